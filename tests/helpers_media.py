"""Photos as a camera writes them (JPEG with EXIF), and their media data in a library.

The media job that reads files and writes ``media.extracted`` (issue 17, parts 1 and 2) is
not in this branch yet. Until it is, :func:`describe` stands in for it: it reads each
photo with Pillow, as the job would, and appends the event through the library's own
append path (the Journal: validated, signed, folded like any event). Once the job is
merged, :func:`describe` is the one function to replace (by running the job, e.g. ``sd
thumbs run``, and waiting for it); every test here calls nothing else of it.

The dHash here is the tests' own (9x8 grey, each pixel against its right neighbour, rows
top to bottom, big-endian): computing it belongs to the job, so the reading side's tests
hold no copy of it, only this independent one to make hashes from real pictures.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from tests.conftest import Sd

EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 36867
MAKE, MODEL, ORIENTATION = 271, 272, 274


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure (a gradient, shapes, blurred): what a resize or a
    recompression keeps, and another seed does not."""
    rng = random.Random(seed)
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 8, width // 2), rng.randrange(height // 8, height // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
    return image.filter(ImageFilter.GaussianBlur(2))


def photo(
    path: Path,
    image: Image.Image,
    taken: str | None = None,
    make: str | None = None,
    model: str | None = None,
    orientation: int | None = None,
    quality: int = 90,
) -> Path:
    """``image`` saved as a camera's JPEG: ``taken`` as EXIF writes it (``2024:07:01
    10:00:00``), make, model, orientation."""
    exif = Image.Exif()
    if make is not None:
        exif[MAKE] = make
    if model is not None:
        exif[MODEL] = model
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if taken is not None:
        exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] = taken
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", exif=exif, quality=quality)
    return path


def dhash(path: Path) -> bytes:
    """The 64-bit dHash of a picture (see the module's docstring)."""
    with Image.open(path) as image:
        grey = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
        pixels = list(grey.get_flattened_data())
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return bits.to_bytes(8, "big")


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def read_media(path: Path) -> dict[str, Any]:
    """What the media job would find in a photo."""
    with Image.open(path) as image:
        exif = image.getexif()
        taken = exif.get_ifd(EXIF_IFD).get(DATE_TIME_ORIGINAL)
        width, height = image.size
    if taken is not None:
        day, _, clock = taken.partition(" ")
        taken = f"{day.replace(':', '-')}T{clock}"
    return {
        "width": width,
        "height": height,
        "orientation": exif.get(ORIENTATION),
        "taken": taken,
        "make": exif.get(MAKE),
        "model": exif.get(MODEL),
        "phash": dhash(path),
    }


def describe(sd: Sd, *paths: Path) -> None:
    """The media job's part: ``media.extracted`` for these indexed files of this device
    (its node stopped), with what :func:`read_media` finds. To be replaced by the job."""
    from events.domain.media import MediaExtracted
    from projections.files.query import resolve
    from projections.files.schema import EID_MASK
    from sdactors.node.node import Node

    with Node(sd.data_dir) as node:
        lib = node.write_library(None)
        with lib.index() as db:
            by_location: dict[bytes, list[tuple[Any, ...]]] = {}
            for path in paths:
                found = resolve(db, str(path).encode(), node.device)
                assert found is not None and found.child is not None, path
                media = read_media(path)
                item = (
                    found.child.eid,
                    found.folder & EID_MASK,
                    found.child.cid,
                    None,
                    media["width"],
                    media["height"],
                    media["orientation"],
                    media["taken"],
                    media["make"],
                    media["model"],
                    *(None,) * 7,
                    media["phash"],
                )
                by_location.setdefault(found.location.location, []).append(item)
        for location, items in by_location.items():
            lib.append_typed(MediaExtracted(location, tuple(items)))
        lib.catch_up()
