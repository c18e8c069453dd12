"""Indexing a folder: discovery, change detection, content identity and kinds."""
