"""Reading one media file once: its media data and its thumbnails from the same decode.

Runs in a media worker process (``sdactors/media/workers.py``): a decoder fed a hostile file
may take all the memory it is allowed, crash or never return, and only that worker pays.

What a file is comes from its first bytes, not its name: a PNG named ``.jpg`` is read as a
PNG, text named ``.jpg`` is refused. The index's kind is a hint only where the bytes say
nothing (a video container without a signature). The file is opened once, never through a
link, and held to what the index says of it (size, mtime) before it is read and again after:
a thumbnail is named by content id, so one made of other bytes would be a lie every copy of
that content shares.

Width and height are the picture's as stored, as EXIF gives them; the orientation (EXIF's,
or a video's display rotation given as the EXIF orientation meaning the same) says how it is
seen, and the thumbnails are made upright. A PDF's size is its first page's, in points.

Thumbnails are written under a temporary name in the thumbnails folder's ``.partial``
folder, then renamed into place: a reader finds a whole WebP or none. One already there is
kept (a run killed after writing it and before its data was committed, or another copy of
the content): no thumbnail is written twice.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, NamedTuple

import av
import av.logging
import pillow_heif
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from sdactors.media.layout import PARTIAL, VARIANTS, Variant, thumbnail_path
from sdactors.media.task import FIELDS, Outcome, Task, failed
from sdactors.runtime.errors import (
    MediaChanged,
    MediaDamaged,
    MediaEmpty,
    MediaFailed,
    MediaNotSupported,
    MediaTooLarge,
    MediaUnreadable,
    ThumbnailsNotWritten,
)

# The longest side any variant needs: what a decode aims at.
LARGEST = max(v.size for v in VARIANTS)
# Bytes read to tell what a file is.
HEAD = 4096
# A video's thumbnail frame: at this fraction of its duration (the keyframe before it).
VIDEO_AT = 0.10
# Packets read after a seek, looking for a frame, before giving up.
VIDEO_PACKETS = 2000

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# open() errors meaning the file is no longer the regular file that was indexed.
_GONE = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENXIO}


class Decoded(NamedTuple):
    fields: dict[str, Any]
    # Upright (orientation applied), RGB or RGBA, its longer side LARGEST at most.
    image: Image.Image


def setup() -> None:
    """Once per worker, before its first file."""
    pillow_heif.register_heif_opener()
    av.logging.set_level(None)  # FFmpeg's complaints about a hostile file are not the node's
    # Between Pillow's pixel limit and twice it, Pillow only warns; the worker's memory
    # limit is what bounds those.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def describe(task: Task) -> Outcome:
    """Read the content of ``task`` from the first of its files that can be read, write its
    missing thumbnails, and give each file its fields: the content's, or why that one file
    could not be read (gone, changed)."""
    results: list[dict[str, Any]] = []
    content: dict[str, Any] | None = None
    written = 0
    exhausted = False
    for path, size, mtime_ns in task.files:
        if content is not None:
            results.append(content)
            continue
        try:
            decoded = read_file(path, size, mtime_ns, task.kind, task.gps)
            made = variants(decoded.image)
            written = write_thumbnails(made, task.root, task.cid, task.partial)
            content = {**dict.fromkeys(FIELDS), **decoded.fields, "phash": dhash(made[-1][1])}
        except (MediaChanged, MediaUnreadable) as exc:
            results.append(failed(str(exc)))  # this file only: another copy may do
            continue
        except MediaFailed as exc:
            content = failed(str(exc))
        except MemoryError:
            exhausted = True
            content = failed(str(MediaTooLarge("it needs more memory than a media reader may use")))
        results.append(content)
    return Outcome(results, written, exhausted)


# -- one file ---------------------------------------------------------------------------------


def read_file(path: bytes, size: int, mtime_ns: int, kind: str | None, gps: bool) -> Decoded:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in _GONE:
            raise MediaChanged(while_read=False) from None
        raise MediaUnreadable(exc.strerror or str(exc)) from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or (before.st_size, before.st_mtime_ns) != (
            size,
            mtime_ns,
        ):
            raise MediaChanged(while_read=False)
        os.set_blocking(fd, True)
        try:
            head = os.pread(fd, HEAD, 0)
            decoded = _decoder(head, kind)(fd, gps)
        except MediaFailed:
            _unchanged(fd, before)  # a file cut short while read says so, not "damaged"
            raise
        except OSError as exc:
            _unchanged(fd, before)
            raise MediaUnreadable(exc.strerror or str(exc)) from None
        _unchanged(fd, before)
        return decoded
    finally:
        os.close(fd)


def _unchanged(fd: int, before: os.stat_result) -> None:
    after = os.fstat(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise MediaChanged(while_read=True)


def _fd_path(fd: int) -> str:
    """A path to the very file ``fd`` holds open, for a library that opens by name (PDFium,
    FFmpeg): it is the checked file even if its name now leads elsewhere."""
    return f"/proc/self/fd/{fd}"


Decoder = Callable[[int, bool], Decoded]


def _decoder(head: bytes, kind: str | None) -> Decoder:
    """What the first bytes say the file is; the index's kind only when they say nothing."""
    if head[:5] == b"%PDF-" or b"%PDF-" in head[:1024]:
        return _pdf
    if head[4:8] == b"ftyp":
        brands = _brands(head)
        if brands & {b"avif", b"avis", b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis",
                     b"mif1", b"msf1"}:  # fmt: skip
            return _image
        return _video
    if any(head.startswith(magic) for magic in _VIDEO_MAGIC) or head[8:12] == b"AVI ":
        return _video
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return _video  # QuickTime without a file type box
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return _video  # MPEG transport stream
    if kind == "video":
        return _video
    if b"<svg" in head[:1024].lower():
        raise MediaNotSupported("SVG")
    return _image  # Pillow knows more formats than are listed here, by their own signatures


_VIDEO_MAGIC = (
    b"\x1a\x45\xdf\xa3",  # Matroska, WebM
    b"FLV",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF (wmv)
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"\x00\x00\x01\xb3",  # MPEG video
    b"OggS",
)


def _brands(head: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO file's ``ftyp`` box."""
    length = int.from_bytes(head[0:4], "big")
    end = min(max(length, 16), len(head))
    found = {head[8:12]}
    for at in range(16, end - 3, 4):
        found.add(head[at : at + 4])
    return found


# -- images -----------------------------------------------------------------------------------


def _image(fd: int, gps: bool) -> Decoded:
    with open(fd, "rb", closefd=False) as file:
        try:
            img = Image.open(file)
        except Image.DecompressionBombError as exc:
            raise MediaTooLarge(str(exc)) from None
        except UnidentifiedImageError:
            claimed = _claimed_image(os.pread(fd, 16, 0))
            if claimed is not None:
                raise MediaDamaged("image", f"it starts as a {claimed} but is not one") from None
            raise MediaNotSupported() from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoder error is the file's
            raise MediaDamaged("image", _said(exc)) from None
        try:
            width, height = img.size
            if img.format == "JPEG":
                # Decoded at 1/2, 1/4 or 1/8 scale when that still covers the largest
                # variant: most of a 12 MP JPEG's decoding cost is never paid.
                scale = LARGEST / max(width, height)
                if scale < 1:
                    img.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            # Pillow turns a TIFF itself as it loads it, dropping its orientation tag.
            stored = img.getexif().get(_ORIENTATION) if img.format == "TIFF" else None
            # Loaded before the metadata is read: reading a PNG's may load it, and swallow
            # why that failed.
            img.load()
            fields: dict[str, Any] = _exif(img, gps)
            if fields.get("orientation") is None and type(stored) is int and 1 <= stored <= 8:
                fields["orientation"] = stored
            upright = _rgb(ImageOps.exif_transpose(img))
            # As stored (EXIF's sense; the orientation says how it is seen). Pillow turns a
            # TIFF, and pillow-heif a HEIF, as they open it: their size is the picture seen.
            seen = (height, width) if _aspect(upright) != _aspect(img) else (width, height)
            quarter = fields.get("orientation") in (5, 6, 7, 8)
            fields["width"], fields["height"] = seen[::-1] if quarter else seen
        except MemoryError:
            raise
        except MediaFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoder error is the file's
            raise MediaDamaged("image", _said(exc)) from None
    return Decoded(fields, _fit(upright, LARGEST))


_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _claimed_image(head: bytes) -> str | None:
    """The format an image's first bytes claim (WebP's too), when they claim one."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)


def _aspect(img: Image.Image) -> bool:
    return img.width > img.height


def _said(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _rgb(img: Image.Image) -> Image.Image:
    """The image as RGB, or RGBA when it has transparency: what WebP stores."""
    if img.mode in ("RGB", "RGBA"):
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        # 16-bit (or wider) greys: scaled down to 8 bits, not clipped.
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    alpha = img.mode in ("LA", "La", "PA", "RGBa") or "transparency" in img.info
    return img.convert("RGBA" if alpha else "RGB")


def _fit(img: Image.Image, size: int) -> Image.Image:
    """``img`` with its longer side ``size`` at most; never enlarged."""
    width, height = img.size
    longer = max(width, height)
    if longer <= size:
        return img
    ratio = size / longer
    target = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return img.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)


# EXIF tags read.
_ORIENTATION, _MAKE, _MODEL, _DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_ORIGINAL, _DIGITIZED = 0x9003, 0x9004


def _exif(img: Image.Image, gps: bool) -> dict[str, Any]:
    try:
        exif = img.getexif()
        sub = exif.get_ifd(_EXIF_IFD)
        located = exif.get_ifd(_GPS_IFD) if gps else {}
    except Exception:  # noqa: BLE001 - damaged metadata: the picture may still be fine
        return {}
    # pillow-heif turns a HEIF as its container says and sets its EXIF orientation to 1,
    # keeping what it was.
    orientation = img.info.get("original_orientation") or exif.get(_ORIENTATION)
    out: dict[str, Any] = {
        "orientation": orientation if type(orientation) is int and 1 <= orientation <= 8 else None,
        "make": label(exif.get(_MAKE)),
        "model": label(exif.get(_MODEL)),
        "taken": taken(sub.get(_ORIGINAL) or sub.get(_DIGITIZED) or exif.get(_DATETIME)),
    }
    if gps:
        out["lat"], out["lon"] = _gps(located)
    return out


def label(value: Any) -> str | None:
    """A camera's make or model as the event takes it: printable, trimmed, 128 at most."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    text = " ".join("".join(c for c in value if c.isprintable()).split())
    return text[:128] or None


_DATE = re.compile(r"(\d{4})[:\-](\d\d)[:\-](\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?")


def taken(value: Any) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` from an EXIF date (``2024:07:05 10:20:30``) or a container's
    (``2024-07-05T10:20:30.000000Z``); None for what is no real date (cameras write zeros)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    found = _DATE.match(value.strip())
    if found is None:
        return None
    parts = [int(p) if p is not None else 0 for p in found.groups()]
    try:
        when = datetime(*parts)  # type: ignore[arg-type]
    except ValueError:
        return None
    if when.year < 1900 or when.year > 9999 or when.strftime("%m-%d %H:%M:%S") == "01-01 00:00:00":
        return None  # unset clocks: the QuickTime or Unix epoch, a year's first second
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _gps(ifd: Any) -> tuple[float | None, float | None]:
    lat = _degrees(ifd.get(2), ifd.get(1), 90)
    lon = _degrees(ifd.get(4), ifd.get(3), 180)
    if lat is None or lon is None:
        return None, None
    return lat, lon


def _degrees(dms: Any, ref: Any, bound: float) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("latin-1")
    if isinstance(ref, str) and ref.strip().upper() in ("S", "W"):
        value = -value
    if not math.isfinite(value) or abs(value) > bound:
        return None
    return round(value, 7)


# -- PDFs -------------------------------------------------------------------------------------


def _pdf(fd: int, gps: bool) -> Decoded:
    """The first page only, rendered at the scale the largest variant needs: a PDF of ten
    thousand pages costs what one of one page does."""
    try:
        pdf = pdfium.PdfDocument(_fd_path(fd))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise MediaNotSupported("a PDF that needs a password") from None
        raise MediaDamaged("PDF", _said(exc)) from None
    try:
        pages = len(pdf)
        if pages == 0:  # PDFium refuses to open one, as of version 5; in case it does
            raise MediaDamaged("PDF", "it has no page")
        page = pdf[0]
        try:
            width, height = page.get_size()
            if not (width > 0 and height > 0 and math.isfinite(width * height)):
                raise MediaDamaged("PDF", "its first page has no size")
            bitmap = page.render(scale=LARGEST / max(width, height))
            image = bitmap.to_pil().convert("RGB")  # a copy: the bitmap's buffer goes
        except pdfium.PdfiumError as exc:
            raise MediaDamaged("PDF", _said(exc)) from None
        finally:
            page.close()
    finally:
        pdf.close()
    # Its size in points (1/72 inch): the page's, as people know it.
    fields = {"width": max(1, round(width)), "height": max(1, round(height)), "pages": pages}
    return Decoded(fields, _fit(image, LARGEST))


# -- videos -----------------------------------------------------------------------------------


def _video(fd: int, gps: bool) -> Decoded:
    try:
        container = av.open(_fd_path(fd), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaDamaged("video", _said(exc)) from None
    with container:
        if not container.streams.video:
            raise MediaEmpty("a file without a video stream")
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1  # one core and one frame's memory per worker
        duration_ms = _duration_ms(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        frame = _frame_at(container, stream, (duration_ms or 0) * VIDEO_AT)
        if frame is None:
            raise MediaEmpty("a video without a frame that can be decoded")
        try:
            image = frame.to_image()
        except Exception as exc:  # noqa: BLE001 - any decoder error is the file's
            raise MediaDamaged("video", _said(exc)) from None
        rotation = round((frame.rotation or 0) / 90) * 90 % 360
        meta = {**dict(stream.metadata), **dict(container.metadata)}
        width, height = stream.width or image.width, stream.height or image.height
        fields: dict[str, Any] = {
            "width": width,
            "height": height,
            # A display rotation as the EXIF orientation that means the same.
            "orientation": {0: None, 90: 8, 180: 3, 270: 6}[rotation],
            "taken": taken(meta.get("creation_time")),
            "make": label(
                _first(meta, "com.apple.quicktime.make", "make", "com.android.manufacturer")
            ),
            "model": label(_first(meta, "com.apple.quicktime.model", "model", "com.android.model")),
            "duration_ms": duration_ms,
            "video_codec": label(stream.codec_context.name),
            "audio_codec": label(audio),
            "fps": fps if fps is not None and math.isfinite(fps) and 0 < fps <= 1_000_000 else None,
        }
        if gps:
            fields["lat"], fields["lon"] = _iso6709(
                _first(meta, "com.apple.quicktime.location.ISO6709", "location")
            )
    upright = image.rotate(rotation, expand=True) if rotation else image
    return Decoded(fields, _fit(upright, LARGEST))


def _first(meta: dict[str, Any], *keys: str) -> Any:
    return next((meta[k] for k in keys if meta.get(k)), None)


def _duration_ms(container: Any, stream: Any) -> int | None:
    if container.duration and container.duration > 0:
        return int(container.duration // 1000)  # AV_TIME_BASE: microseconds
    if stream.duration and stream.time_base:
        return max(0, int(stream.duration * stream.time_base * 1000))
    return None


def _frame_at(container: Any, stream: Any, at_ms: float) -> Any:
    """The first frame from the keyframe at or before ``at_ms`` (from the start when the
    container cannot seek there)."""
    if at_ms > 0 and stream.time_base:
        try:
            container.seek(int(at_ms / 1000 / stream.time_base), stream=stream, backward=True)
            frame = _next_frame(container, stream)
            if frame is not None:
                return frame
        except av.FFmpegError:
            pass
        try:
            container.seek(0, stream=stream)
        except av.FFmpegError:
            return None
    return _next_frame(container, stream)


def _next_frame(container: Any, stream: Any) -> Any:
    packets = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            if packets > VIDEO_PACKETS:
                return None
            try:
                frames = packet.decode()
            except (av.InvalidDataError, av.EOFError):
                continue  # a damaged packet: the next keyframe may decode
            if frames:
                return frames[0]
    except av.FFmpegError:
        return None
    return None


_COORDS = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


def _iso6709(value: Any) -> tuple[float | None, float | None]:
    """``+48.8577+002.2950+035.000/`` as degrees."""
    if not isinstance(value, str):
        return None, None
    found = _COORDS.match(value.strip())
    if found is None:
        return None, None
    lat, lon = float(found.group(1)), float(found.group(2))
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        return None, None
    return round(lat, 7), round(lon, 7)


# -- thumbnails and hash ----------------------------------------------------------------------


def variants(image: Image.Image) -> list[tuple[Variant, Image.Image]]:
    """Each variant of an upright image, largest first, each made from the one before (as
    good as from the original at these ratios, and a fraction of the cost)."""
    out = []
    current = image
    for variant in sorted(VARIANTS, key=lambda v: v.size, reverse=True):
        current = _fit(current, variant.size)
        out.append((variant, current))
    return out


def dhash(image: Image.Image) -> bytes:
    """64-bit difference hash: for each of 8 rows of a 9x8 grey copy, whether each pixel is
    brighter than its right neighbour. Near-identical pictures (resized, recompressed) differ
    in a few bits."""
    if image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    grey = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (grey[row * 9 + col] > grey[row * 9 + col + 1])
    return bits.to_bytes(8, "big")


def write_thumbnails(
    made: list[tuple[Variant, Image.Image]], root: str, cid: bytes, partial: str
) -> int:
    """Write the variants of ``cid`` that are not there yet; how many."""
    written = 0
    staging = Path(root) / PARTIAL
    for variant, img in made:
        final = thumbnail_path(Path(root), cid, variant.size)
        if final.exists():
            continue
        temp = staging / f"{partial}{final.name}"
        try:
            staging.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as out:
                img.save(out, "WEBP", quality=variant.quality)
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise ThumbnailsNotWritten(root, exc.strerror or str(exc)) from None
        written += 1
    return written
