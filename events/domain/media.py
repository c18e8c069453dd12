"""Media data: what the owning device's media job learned of its files, in batches.

Keyed by (device, entry): the location is the writer's own, so another device's event on it
finds nothing (as with entries). Each item names its entry's folder (``parent``), as every
entries item does: read models keep entries grouped by folder. Each item names the content id the file had when it was
read: a fold keeps an item only while the entry still holds that content, so data read from
a file that has changed since never describes the new one.

An item either carries what was found or, in ``error``, why nothing could be (a truncated
file, a decompression bomb, a timeout): a failure is a fact like any other, so every device
can list it and no device retries it until the content changes.

``taken`` is the date the camera wrote (EXIF DateTimeOriginal, else the container's creation
time), as ``YYYY-MM-DDTHH:MM:SS`` in the camera's own local time (EXIF has no zone), so a
prefix (``2024-07``) selects a month. GPS (``lat``, ``lon``, degrees) is written only when
the library's owner enabled it: it is personal data, and the log goes to every device.
``phash`` is a 64-bit dHash of the image (or the video's frame), big-endian.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.domain.entries import BATCH_MAX, EID, PARENT
from events.shapes import INT64_MAX, Bytes, Id, Int, ListOf, Maybe, Num, Record, Text

DIMENSION = Maybe(Int(1, 1 << 31))
# EXIF orientation: 1..8 (1 upright).
ORIENTATION = Maybe(Int(1, 8))
TAKEN = Maybe(Text(10, 19, pattern=r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d)?)?"))
LABEL = Maybe(Text(1, 128))
CODEC = Maybe(Text(1, 64))

# Fields of an item of MediaExtracted.items. The field order is part of the event's version.
ITEM = Record(
    (
        ("eid", EID),
        ("parent", PARENT),
        ("cid", Id(32)),
        ("error", Maybe(Text(1, 500))),
        ("width", DIMENSION),
        ("height", DIMENSION),
        ("orientation", ORIENTATION),
        ("taken", TAKEN),
        ("make", LABEL),
        ("model", LABEL),
        ("lat", Maybe(Num(-90, 90))),
        ("lon", Maybe(Num(-180, 180))),
        ("duration_ms", Maybe(Int(0, INT64_MAX))),
        ("video_codec", CODEC),
        ("audio_codec", CODEC),
        ("fps", Maybe(Num(0, 1_000_000))),
        ("pages", Maybe(Int(0, 1 << 31))),
        ("phash", Maybe(Bytes(8, 8))),
    )
)


@CATALOG.event("media.extracted")
@dataclass(frozen=True, slots=True)
class MediaExtracted:
    """Media data of files of one of the writer's locations."""

    location: Annotated[bytes, Id()]
    items: Annotated[tuple, ListOf(ITEM, 1, BATCH_MAX)]
