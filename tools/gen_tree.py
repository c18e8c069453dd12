"""Generate a synthetic folder tree that looks like a person's files, deterministically.

Mostly small files (the common case, and the hard one for an indexer: per-file costs
dominate), some large ones, real format headers (PNG, JPEG, PDF, ZIP, MP3, ELF) so kind
detection has content to read, duplicated content so duplicates exist, nested folders of
varying depth and fan-out, and names with spaces, dots, dashes and underscores.

    python tools/gen_tree.py DIR --files 100000

The same arguments always give the same tree. A marker file records them, so a second call
with the same arguments returns at once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

MARKER = ".gen_tree.json"

HEADERS = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "zip": b"PK\x03\x04\x14\x00\x00\x00",
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "so": b"\x7fELF\x02\x01\x01\x00",
}
TEXT_EXTS = ["txt", "md", "py", "rs", "js", "json", "csv", "log", "html", "toml"]
WORDS = [
    "holiday",
    "photo",
    "report",
    "final",
    "draft",
    "invoice",
    "budget",
    "notes",
    "music",
    "track",
    "scan",
    "backup",
    "project",
    "meeting",
    "summary",
    "plan",
    "design",
    "review",
    "data",
    "export",
    "archive",
    "letter",
    "contract",
    "receipt",
    "recipe",
    "travel",
    "family",
    "school",
    "work",
    "taxes",
    "garden",
    "car",
    "house",
    "paris",
    "berlin",
]


def _name(rng: random.Random, ext: str) -> str:
    style = rng.random()
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    n = rng.randint(0, 99999)
    if style < 0.3:
        return f"{a}_{n:05d}.{ext}"
    if style < 0.5:
        return f"{a}-{b}-{n}.{ext}"
    if style < 0.7:
        return f"{a.title()} {b} {n}.{ext}"
    if style < 0.85:
        return f"IMG_{n:04d}.{ext}"
    return f"{a}.{b}.v{n % 10}.{ext}"


def _content(rng: random.Random, ext: str, dupes: list[bytes], max_size: int) -> bytes:
    if dupes and rng.random() < 0.05:
        return rng.choice(dupes)
    roll = rng.random()
    if roll < 0.90:
        size = int(rng.expovariate(1 / 3000)) + 1
    elif roll < 0.99:
        size = rng.randint(20_000, 300_000)
    else:
        size = rng.randint(1_000_000, 8_000_000)
    size = min(size, max_size)
    head = HEADERS.get(ext, b"")
    if ext in TEXT_EXTS:
        line = (" ".join(rng.choice(WORDS) for _ in range(8)) + "\n").encode()
        body = (line * (size // len(line) + 1))[:size]
    else:
        body = rng.randbytes(max(0, size - len(head)))
    data = head + body
    if len(dupes) < 500 and rng.random() < 0.2:
        dupes.append(data)
    return data


def generate(root: Path, files: int, seed: int = 1, max_size: int = 8_000_000) -> dict:
    params = {"files": files, "seed": seed, "version": 1, "max_size": max_size}
    marker = root / MARKER
    if marker.exists() and json.loads(marker.read_text()) == params:
        return params
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} exists and is not a tree generated with these arguments")
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    exts = list(HEADERS) * 2 + TEXT_EXTS * 3
    dupes: list[bytes] = []
    folders = [root]
    made = 0
    while made < files:
        parent = rng.choice(folders[-200:]) if rng.random() < 0.7 else rng.choice(folders)
        folder = parent / f"{rng.choice(WORDS)} {len(folders)}"
        folder.mkdir()
        folders.append(folder)
        for _ in range(min(files - made, max(1, int(rng.expovariate(1 / 25))))):
            ext = rng.choice(exts)
            path = os.path.join(folder, _name(rng, ext))
            if os.path.exists(path):
                path = f"{path[: -len(ext) - 1]} ({made}).{ext}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, _content(rng, ext, dupes, max_size))
            finally:
                os.close(fd)
            made += 1
    marker.write_text(json.dumps(params))
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-size",
        type=int,
        default=8_000_000,
        help="Cap file sizes (bytes): a million files of the default mix would need about 60 GB.",
    )
    args = parser.parse_args(argv)
    generate(args.root, args.files, args.seed, args.max_size)
    sys.stdout.write(f"{args.root}: {args.files} files\n")


if __name__ == "__main__":
    main()
