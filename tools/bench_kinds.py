"""Benchmark of file kind detection: µs per file for `kind_of` vs the libraries' own calls.

The indexer's budget is about 1–2 µs per file for kinds (the whole walk must stay within 4x
``find -printf``). The corpus is a mix of real headers made here, each as the indexer would
pass it (the whole file up to 100 KiB, else the first 8 KiB), with the weights of a home
folder or source tree: mostly code and text, then images, archives, binaries and media.

Baselines, on the same heads and names: ``puremagic.from_string(head, filename=name)``
(whose signature data `kind_of` compiles) and, when installed, ``filetype.guess(head)``.
Neither maps to our kinds; they are timed for the detection alone.

    python tools/bench_kinds.py              # table per format and the weighted mean
    python tools/bench_kinds.py --json       # one JSON object, for scripts
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import io
import json
import random
import sqlite3
import sys
import time
import wave
import zipfile
from typing import Any, Callable

HEAD_LIMIT = 8 * 1024  # what the indexer passes for files over 100 KiB


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _sqlite() -> bytes:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    con.executemany("INSERT INTO t (name) VALUES (?)", [(f"row {i}",) for i in range(200)])
    con.commit()
    return con.serialize()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(4000))
    return buf.getvalue()


def corpus(rng: random.Random) -> list[tuple[str, str, int, bytes | None]]:
    """(format, file name, weight out of 1000, head) for each format in the mix."""
    noise = rng.randbytes
    code = (
        b"import os\nimport sys\n\n\ndef main(argv: list[str]) -> int:\n"
        b"    for arg in argv:\n        print(arg.upper())\n    return 0\n"
    ) * 40
    text = ("Notes from the meeting. Caf\u00e9 au lait \u2014 tout va bien.\n" * 60).encode()
    elf = open(sys.executable, "rb").read(HEAD_LIMIT)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb"
    mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x08free"
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
    id3 = b"ID3\x04\x00\x00\x00\x00\x01\x00TIT2\x00\x00\x00\x05\x00\x00\x03song"
    return [
        ("python source", "src/app/main.py", 250, code[:3000]),
        ("rust source", "src/lib.rs", 80, code[:5000].replace(b"def", b"fn ")),
        ("markdown", "README.md", 60, text[:2000]),
        ("plain text (no ext)", "LICENSE", 20, text[:3000]),
        ("json config", "package.json", 60, b'{"name": "x", "version": "1.0.0", "deps": {}}\n'),
        ("png", "img/photo.png", 80, png + noise(HEAD_LIMIT - len(png))),
        ("jpeg", "DCIM/IMG_0001.JPG", 80, jpeg + noise(HEAD_LIMIT - len(jpeg))),
        ("gif", "anim.gif", 10, b"GIF89a\x10\x00\x10\x00\x80\x00\x00" + noise(500)),
        ("pdf", "paper.pdf", 40, pdf + noise(HEAD_LIMIT - len(pdf))),
        ("zip", "backup.zip", 15, _zip({"a.txt": noise(3000)})[:HEAD_LIMIT]),
        ("docx (zip)", "report.docx", 15, _zip({"[Content_Types].xml": b"<Types/>"})),
        ("gzip", "logs.tar.gz", 20, gzip.compress(noise(HEAD_LIMIT))[:HEAD_LIMIT]),
        ("elf (no ext)", "bin/python3", 40, elf),
        ("elf .so", "lib/libfoo.so.1", 20, elf),
        ("mp3 (ID3)", "music/song.mp3", 40, id3 + noise(HEAD_LIMIT - len(id3))),
        ("mp4 (ftyp)", "video/clip.mp4", 20, mp4 + noise(HEAD_LIMIT - len(mp4))),
        ("wav", "sound.wav", 10, _wav()),
        ("woff2", "fonts/inter.woff2", 10, b"wOF2\x00\x01\x00\x00" + noise(2000)),
        ("sqlite", "data/app.db", 10, _sqlite()[:HEAD_LIMIT]),
        ("random binary (.bin)", "blob.bin", 50, noise(HEAD_LIMIT)),
        ("random binary (no ext)", "cache/3fa9c1", 40, noise(HEAD_LIMIT)),
        ("unreadable / empty", "fifo", 10, None),
    ]


def _per_file_us(
    fn: Callable[[str, bytes | None], Any],
    items: list[tuple[str, bytes | None]],
    min_seconds: float,
) -> float:
    """Best-of-5 mean µs per call of fn over items, each round lasting about min_seconds."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            for name, head in items:
                fn(name, head)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds / 5:
            break
        loops *= 4
    best = elapsed
    for _ in range(4):
        start = time.perf_counter()
        for _ in range(loops):
            for name, head in items:
                fn(name, head)
        best = min(best, time.perf_counter() - start)
    return best / (loops * len(items)) * 1e6


def _detectors() -> dict[str, Callable[[str, bytes | None], Any]]:
    from sdactors.indexer.kinds import kind_of

    detectors: dict[str, Callable[[str, bytes | None], Any]] = {"kind_of": kind_of}
    import puremagic

    def puremagic_call(name: str, head: bytes | None) -> Any:
        try:
            return puremagic.from_string(head or b"", filename=name)
        except (puremagic.PureError, ValueError):
            return None

    detectors[f"puremagic {puremagic.__version__}"] = puremagic_call
    try:
        filetype = importlib.import_module("filetype")
    except ImportError:
        return detectors
    detectors[f"filetype {filetype.__version__}"] = lambda name, head: filetype.guess(head or b"")
    return detectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    start = time.perf_counter()
    importlib.import_module("sdactors.indexer.kinds")
    import_ms = (time.perf_counter() - start) * 1e3
    from sdactors.indexer.kinds import kind_of

    rows = corpus(random.Random(7))
    detectors = _detectors()
    table = []
    for fmt, name, weight, head in rows:
        figures = {
            label: _per_file_us(fn, [(name, head)], args.seconds / 4)
            for label, fn in detectors.items()
        }
        table.append(
            {
                "format": fmt,
                "name": name,
                "weight": weight,
                "kind": kind_of(name, head),
                "us": figures,
            }
        )
    mix = [(name, head) for _, name, weight, head in rows for _ in range(weight)]
    random.Random(8).shuffle(mix)
    weighted = {label: _per_file_us(fn, mix, args.seconds) for label, fn in detectors.items()}

    if args.json:
        print(json.dumps({"import_ms": import_ms, "formats": table, "mix_us": weighted}))
        return
    labels = list(detectors)
    print(f"{'format':24} {'kind':11} " + " ".join(f"{label:>16}" for label in labels))
    for row in table:
        print(
            f"{row['format']:24} {row['kind']:11} "
            + " ".join(f"{row['us'][label]:13.2f} µs" for label in labels)
        )
    print(f"{'weighted mix':36} " + " ".join(f"{weighted[label]:13.2f} µs" for label in labels))
    print(f"import of sdactors.indexer.kinds (compiles the signature data): {import_ms:.0f} ms")


if __name__ == "__main__":
    main()
