"""Where a library keeps its thumbnails: by content id, so every copy of a file shares one
and a rename or a move costs nothing.

``<library>/thumbnails/<cid[0:2]>/<cid[2:4]>/<cid>_<size>.webp`` (the cid in hex), the sizes
Spacedrive V2 makes: a grid cell, the same at twice the pixels, and a detail view. Two levels
of 256 folders keep a folder of a million thumbnails to about 15 files each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    size: int  # the longer side, in pixels
    quality: int  # WebP quality


GRID = Variant("grid", 256, 85)
GRID_2X = Variant("grid@2x", 512, 85)
DETAIL = Variant("detail", 1024, 90)
VARIANTS = (GRID, GRID_2X, DETAIL)
SIZES = tuple(v.size for v in VARIANTS)


def thumbnail_path(root: Path, cid: bytes, size: int) -> Path:
    """The thumbnail of content ``cid`` at ``size`` under the thumbnails folder ``root``."""
    name = cid.hex()
    return root / name[0:2] / name[2:4] / f"{name}_{size}.webp"


# Where thumbnails are written before being renamed into place (beside the two levels of
# folders, on the same file system): a reader finds a whole thumbnail or none, and what a
# killed writer left is in one folder.
PARTIAL = ".partial"
