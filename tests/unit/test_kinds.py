"""File kinds: real headers of real formats, made here with the standard library or by hand
from each format's specification, named rightly, wrongly and not at all."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import sqlite3
import struct
import tarfile
import wave
import zipfile
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdactors.indexer.kind_names import KINDS
from sdactors.indexer.kinds import kind_from_extension, kind_of


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )


def _tar(member: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(member)
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(200))
    return buf.getvalue()


def _sqlite() -> bytes:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (x)")
    return con.serialize()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _ftyp(brand: bytes, compatible: bytes = b"isom") -> bytes:
    """An ISO base media file (mp4, m4a, heic): ftyp box then an empty mdat."""
    return _box(b"ftyp", brand + b"\0\0\0\0" + compatible) + _box(b"mdat", b"")


ELF = (
    b"\x7fELF\x02\x01\x01\x00"
    + bytes(8)  # 64-bit, little endian, SysV
    + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, 0, 64, 0, 0)
)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(44) + b"\x80\0\0\0"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00\x43\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x23TIT2\x00\x00\x00\x05\x00\x00\x03song" + b"\xff\xfb\x90\x00"
WOFF = b"wOFF\x00\x01\x00\x00" + struct.pack(">IHH", 1024, 1, 0) + bytes(32)
WOFF2 = b"wOF2\x00\x01\x00\x00" + struct.pack(">IHH", 1024, 1, 0) + bytes(36)
TTF = b"\x00\x01\x00\x00\x00\x0a\x00\x80\x00\x03\x00\x20" + b"cmap" + bytes(12)
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff" + bytes(482)
MKV = b"\x1aE\xdf\xa3\xa3\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x88matroska"
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(34)
OGG = b"OggS\x00\x02" + bytes(8) + b"\x01\x00\x00\x00" + bytes(8) + b"\x01\x1e\x01vorbis"
CODE = b"import os\n\n\ndef main() -> None:\n    print(os.getcwd())\n"
TEXT = "Caf\u00e9 notes \u2014 meeting on Tuesday.\n".encode() * 40
BINARY = random.Random(3).randbytes(4096).replace(b"\0", b"\1").replace(b"\1", b"\0", 1)


def _formats() -> list[tuple[str, bytes | None, str]]:
    """(name, head, kind) for real formats under their own names."""
    return [
        ("photo.png", _png(), "image"),
        ("IMG_0001.JPG", JPEG, "image"),
        ("anim.gif", GIF, "image"),
        ("pic.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00", "image"),
        ("IMG_0002.HEIC", _ftyp(b"heic", b"mif1heic"), "image"),
        ("clip.mp4", _ftyp(b"isom", b"isomiso2avc1mp41"), "video"),
        ("clip.mov", _ftyp(b"qt  ", b"qt  "), "video"),
        ("film.mkv", MKV, "video"),
        ("film.avi", b"RIFF\x24\x00\x00\x00AVI LIST\x04\x00\x00\x00hdrl", "video"),
        ("song.mp3", ID3, "audio"),
        ("voice.m4a", _ftyp(b"M4A ", b"M4A mp42isom"), "audio"),
        ("sound.wav", _wav(), "audio"),
        ("track.flac", FLAC, "audio"),
        ("track.ogg", OGG, "audio"),
        ("paper.pdf", PDF, "document"),
        (
            "report.docx",
            _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
            "document",
        ),
        (
            "sheet.xlsx",
            _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}),
            "document",
        ),
        ("old.doc", OLE2, "document"),
        ("setup.msi", OLE2, "executable"),
        ("novel.epub", _zip({"mimetype": b"application/epub+zip"}, zipfile.ZIP_STORED), "book"),
        ("app.jar", _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"}), "executable"),
        ("app.apk", _zip({"AndroidManifest.xml": bytes(40)}), "executable"),
        ("backup.zip", _zip({"a.txt": b"hello"}), "archive"),
        ("logs.tar.gz", gzip.compress(b"hello" * 100), "archive"),
        ("logs.tar", _tar("logs/app.log"), "archive"),
        ("data.bz2", bz2.compress(b"hello" * 100), "archive"),
        ("data.xz", lzma.compress(b"hello" * 100), "archive"),
        ("python3", ELF, "executable"),
        ("libfoo.so", ELF, "executable"),
        ("setup.exe", PE, "executable"),
        ("Inter.woff", WOFF, "font"),
        ("Inter.woff2", WOFF2, "font"),
        ("DejaVu.ttf", TTF, "font"),
        ("app.db", _sqlite(), "database"),
        ("notes.sqlite", _sqlite(), "database"),
        ("main.py", CODE, "code"),
        ("lib.rs", b'fn main() {\n    println!("hi");\n}\n', "code"),
        ("index.ts", b"import { x } from './x';\nexport const y = x;\n", "code"),
        ("index.html", b"<!DOCTYPE html>\n<html><body></body></html>\n", "code"),
        ("README.md", TEXT, "text"),
        ("notes.txt", TEXT, "text"),
        ("package.json", b'{"name": "x", "version": "1.0.0"}\n', "config"),
        ("config.yaml", b"name: x\nitems:\n  - 1\n", "config"),
        ("pyproject.toml", b'[project]\nname = "x"\n', "config"),
        ("pom.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<project/>\n', "config"),
        (".gitignore", b"*.pyc\n__pycache__/\n", "config"),
        ("Makefile", b"all:\n\tcc -o x x.c\n", "code"),
    ]


def test_real_formats_under_their_own_names() -> None:
    formats = _formats()
    assert {name: kind_of(name, head) for name, head, _ in formats} == {
        name: kind for name, _, kind in formats
    }


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        # Content wins where it disagrees with the extension.
        ("photo.txt", _png(), "image"),
        ("x.jpg", ELF, "executable"),
        ("song.mp3", _ftyp(b"mp42", b"mp42isom"), "video"),
        ("archive.jpg", _zip({"a": b"b"}), "archive"),
        ("movie.avi", _wav(), "audio"),
        ("notes.pdf", _sqlite(), "database"),
        ("thing.mp4", _tar("if.txt"), "archive"),  # "if" at offset 0 is a tracker signature
        ("main.py", BINARY, "unknown"),  # binary content cannot be source code
        # Containers do not override a specific extension.
        ("report.docx", _zip({"a": b"b"}, zipfile.ZIP_STORED), "document"),
        (
            "slides.odp",
            _zip({"mimetype": b"application/vnd.oasis.opendocument.presentation"}),
            "document",
        ),
        ("book.cbz", _zip({"001.jpg": JPEG}), "book"),
        # Text formats stay what their name says even when they start like something else.
        ("main.py", b"if __name__ == '__main__':\n    main()\n", "code"),
        (
            "icon.svg",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>\n',
            "image",
        ),
        ("data.json", b'{"a": [1, 2]}\n', "config"),
        ("pic.ppm", b"P3\n1 1\n255\n0 0 0\n", "image"),
    ],
)
def test_disagreement(name: str, head: bytes, kind: str) -> None:
    assert kind_of(name, head) == kind


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("blob", _png(), "image"),
        ("blob.bin", ELF, "executable"),
        ("cache-3fa9c1", _zip({"a": b"b"}), "archive"),
        ("backup-2024", _tar("etc/hosts"), "archive"),
        ("video.part", _ftyp(b"isom", b"isomavc1"), "video"),
        ("LICENSE", TEXT, "text"),
        ("notes", b"if you read this, hello\n", "text"),  # "if" alone is not a signature
        ("run-tests", b"#!/bin/sh\nexec pytest\n", "code"),
        ("manage", b"#!/usr/bin/env python\nimport sys\n", "code"),
        ("blob", BINARY, "unknown"),
        ("blob.dat", BINARY, "unknown"),
        ("latin1", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e\n".encode("latin-1"), "unknown"),
        ("cut", "\u00e9t\u00e9 ".encode() * 102 + "\u00e9".encode()[:1], "text"),  # split at 512
        # Extensions that text files share are left to the content.
        ("id_rsa.pub", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n", "text"),
        ("server.key", b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n", "text"),
        ("go.mod", b"module example.com/x\n\ngo 1.22\n", "text"),
        ("nohup.out", b"started\n", "text"),
        ("a.out", ELF, "executable"),
    ],
)
def test_unknown_extension_decided_by_content(name: str, head: bytes, kind: str) -> None:
    assert kind_of(name, head) == kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("main.py", "code"),
        ("photo.JPG", "image"),
        ("archive.tar.gz", "archive"),
        ("song.flac", "audio"),
        ("book.epub", "book"),
        ("font.otf", "font"),
        ("x.unknownext", "unknown"),
        ("noext", "unknown"),
        ("Dockerfile", "code"),
        ("trailing.", "unknown"),
        (".bashrc", "config"),
    ],
)
@pytest.mark.parametrize("head", [None, b""])
def test_without_content_the_name_decides(name: str, kind: str, head: bytes | None) -> None:
    assert kind_of(name, head) == kind


def test_non_utf8_names() -> None:
    png_name = os.fsdecode(b"caf\xe9.png")  # surrogate escape from a Latin-1 file name
    assert "\udce9" in png_name
    assert kind_of(png_name, _png()) == "image"
    assert kind_of(png_name, None) == "image"
    assert kind_of(os.fsdecode(b"\xff\xfe.\xe9xt"), b"hello\n") == "text"
    assert kind_of(os.fsdecode(b"r\xe9sum\xe9"), PDF) == "document"


def test_kind_from_extension() -> None:
    assert kind_from_extension("PNG") == "image"
    assert kind_from_extension("docx") == "document"
    assert kind_from_extension("azw3") == "book"
    assert kind_from_extension("nope") == "unknown"


def test_kinds_cover_the_required_set() -> None:
    required = {
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
    }
    assert set(KINDS) == required


@given(name=st.text(max_size=40), head=st.none() | st.binary(max_size=600))
def test_any_input_gives_a_kind(name: str, head: bytes | None) -> None:
    assert kind_of(name, head) in KINDS


@given(
    prefix=st.sampled_from([_png(), ELF, JPEG, PDF, b"PK\x03\x04", b"RIFF\0\0\0\0WAVE"]),
    rest=st.binary(max_size=300),
)
def test_any_tail_after_a_signature_gives_a_kind(prefix: bytes, rest: bytes) -> None:
    assert kind_of("x", prefix + rest) in KINDS
