"""Thumbnails across devices (``sd/thumb/1``): asked of the device holding a file, served to
the library's members, and kept in a bounded cache."""
