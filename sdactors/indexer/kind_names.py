"""The kinds a file can be, apart from how they are told (``sdactors.indexer.kinds``): the
CLI offers them as choices without loading the signature tables."""

from __future__ import annotations

KINDS: tuple[str, ...] = (
    "image",
    "video",
    "audio",
    "document",
    "text",
    "code",
    "archive",
    "executable",
    "font",
    "database",
    "book",
    "config",
    "unknown",
)
