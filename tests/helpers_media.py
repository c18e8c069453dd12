"""Media files for the media tests, made with the libraries' own encoders.

- Photos as a camera writes them (``photo``: JPEG with EXIF, of a ``scene``), and their media
  data in a library (``describe``: see below).
- Pictures for the media job's tests (``picture``: any format, with EXIF, rotated ones among
  them), PDFs, videos, and hostile files of each kind. A picture is two colours side by side
  (red left, blue right, as stored), so where the red half of a thumbnail lands says which
  way it was turned.

``describe`` appends ``media.extracted`` for the photos it is given, read with Pillow (their
size as stored, EXIF) through the library's own append path (the Journal: validated, signed,
folded like any event): the reading side's tests need some files described and others not,
and hashes they compute themselves. The media job (``sd thumbs run``) describes every file
of a location, with its own hash of the picture as seen.

The dHash here is the tests' own (9x8 grey, each pixel against its right neighbour, rows
top to bottom, big-endian): computing it belongs to the job, so the reading side's tests
hold no copy of it, only this independent one to make hashes from real pictures.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pillow_heif
import pypdfium2 as pdfium
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


RED, BLUE = (255, 0, 0), (0, 0, 255)
pillow_heif.register_heif_opener()


def halves(width: int, height: int) -> Image.Image:
    """Red left half, blue right half."""
    img = Image.new("RGB", (width, height), BLUE)
    img.paste(RED, (0, 0, width // 2, height))
    return img


def picture(
    path: Path,
    width: int = 400,
    height: int = 200,
    fmt: str = "JPEG",
    orientation: int | None = None,
    taken: str | None = "2024:07:05 10:20:30",
    make: str | None = "Canon",
    model: str | None = "EOS R5",
    gps: tuple[float, float] | None = None,
) -> Path:
    """A picture of ``halves`` in ``fmt`` with EXIF (formats that carry it)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    if gps is not None:
        lat, lon = gps
        located = exif.get_ifd(0x8825)
        located[1], located[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        located[3], located[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    path.parent.mkdir(parents=True, exist_ok=True)
    img = halves(width, height)
    if fmt in ("GIF", "BMP"):
        img.save(path, fmt)
    else:
        img.save(path, fmt, exif=exif.tobytes())
    return path


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 2)
    return (Fraction(degrees), Fraction(minutes), Fraction(seconds).limit_denominator(100))


def hand_pdf(path: Path, page_objects: list[bytes], content: bytes | None = None) -> Path:
    """A PDF written object by object: a catalog, a page tree of ``page_objects`` (numbered
    from 3), and ``content`` as the stream every page draws (compressed)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(len(page_objects)))
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_objects)))
    objects.extend(page_objects)
    if content is not None:
        packed = zlib.compress(content)
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
            + packed
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(out)
    return path


def slow_pdf(path: Path, rects: int) -> Path:
    """A one-page PDF of ``rects`` filled squares: seconds of rendering in a few hundred KB."""
    drawn = b"".join(b"%d %d 1 1 re f\n" % (i % 600, (i // 600) % 800) for i in range(rects))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R >>"
    return hand_pdf(path, [page], drawn)


def pdf(path: Path, pages: int = 1, width: float = 300, height: float = 400) -> Path:
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(width, height)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    doc.close()
    return path


def video(
    path: Path,
    seconds: float = 2.0,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    rotation: int | None = None,
    change_at: float | None = 0.1,
    codec: str = "libx264",
    audio: bool = False,
) -> Path:
    """A video of ``halves`` frames, black until ``change_at`` of its duration (so the frame
    at 10% is told from the first), a keyframe every fifth frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 5
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=8000) if audio else None
        black = Image.new("RGB", (width, height))
        for i in range(frames):
            shown = halves(width, height) if change_at is None or i >= frames * change_at else black
            for packet in stream.encode(av.VideoFrame.from_image(shown)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            for start in range(0, round(seconds * 8000), 1024):
                silence = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                silence.planes[0].update(bytes(silence.planes[0].buffer_size))
                silence.sample_rate, silence.pts = 8000, start
                for packet in sound.encode(silence):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


def no_stream_video(path: Path) -> Path:
    """An MP4 container with nothing in it: what a recording stopped at once leaves."""
    out = av.open(str(path), "w", format="mp4")
    stream = out.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    out.start_encoding()
    out.close()
    return path


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes of PNG whose header claims ``width`` x ``height`` pixels: a
    decompression bomb, as far as anything that trusts the header goes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def encoded(fmt: str, width: int = 400, height: int = 200) -> bytes:
    buffer = io.BytesIO()
    halves(width, height).save(buffer, fmt)
    return buffer.getvalue()


def colour_at(img: Image.Image, x: float, y: float) -> str:
    """'red' or 'blue' (or 'other') at a point given as fractions of the width and height."""
    r, _g, b = img.convert("RGB").getpixel((int(x * (img.width - 1)), int(y * (img.height - 1))))
    if r > 180 and b < 80:
        return "red"
    if b > 180 and r < 80:
        return "blue"
    return "other"
