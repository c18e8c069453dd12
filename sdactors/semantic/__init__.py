"""Meaning: a static word-embedding model over names and paths (``model.py``), the vectors
of an index's entries kept beside it (``vectors.py``), and what a search in words asks
beyond its words: dates, kinds (``query.py``). ``embed(texts)`` is the public entry point."""

from sdactors.semantic.model import DIM, embed, entry_text, words

__all__ = ["DIM", "embed", "entry_text", "words"]
