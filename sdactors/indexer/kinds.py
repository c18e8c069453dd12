"""The kind of a file (image, code, archive...) from its name and its first bytes.

The indexer calls `kind_of` once per file, within a budget of a microsecond or two.
Content signatures are not written here: they come from puremagic's maintained data
(``magic_data.json``), compiled once at import into dicts keyed by the bytes at each offset,
so a file costs a few dict lookups and ``startswith`` checks where puremagic's own call
scans every signature (``tools/bench_kinds.py``: about 1 µs against 400). What is written
here is which kind an extension, a MIME type or a conventional name belongs to.

How a file is decided:

- **Agreement:** when a signature at the start matches and its kind is the extension's,
  or its data lists the extension, the extension names the kind. So containers refine:
  a zip named ``.docx``, ``.jar`` or ``.epub`` is document, executable, book; an OLE2
  ``.msi`` is executable.
- **Content wins** otherwise: a PNG named ``photo.txt`` is image, an ELF named ``x.jpg``
  is executable. Signatures further in (``ftyp`` at 4, tar at 257...) are searched when
  the name gives no kind, disagrees with the start, or claims text for binary content;
  the longest match wins, as in puremagic. A binary extension with nothing matching at
  the start keeps its kind unsearched, so a ``.pyc`` costs no more than a ``.png``. A
  signature shared by several kinds takes the first in `_PRECEDENCE` (zip is archive,
  OLE2 document, RIFF audio).
- **Text:** a signature of printable ASCII (``{"``, ``<?xml``, ``MZ``, ``if``) on a file
  that reads as text does not override the name; with no known name it counts from 4
  bytes up. With a known extension a file is text when its first 512 bytes have no NUL;
  with none they must also be valid UTF-8 (legacy 8-bit text is then ``unknown``).
- **No signature:** the extension's kind, except that a text extension (text, code,
  config) on binary content is ``unknown``. A binary extension on text content keeps its
  kind: SVG, EPS and PPM are text. With no known extension: ``text`` if it reads as text
  (``code`` if it starts with ``#!``), else ``unknown``.
- **Choices:** html, css, sql, tex and notebooks are code; json, yaml, toml, ini, xml,
  plist and dotfiles such as ``.gitignore`` are config; markdown, csv and logs are text;
  jar, apk, class and pyc are executable; disk images and packages (iso, dmg, deb, rpm)
  are archive; ``.ts`` is TypeScript, not an MPEG transport stream. Extensions common on
  text files too are left to the content: key, pub, dot, pot, out, com, mod, it (a PEM
  key, an SSH public key, Graphviz, gettext, logs, domain names, ``go.mod``, Italian).
- Without content (``head`` None or empty: unreadable, special or empty) the name decides.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import NamedTuple

_BY_KIND: dict[str, str] = {
    "image": "jpg jpeg jpe jfif png apng gif bmp dib tif tiff webp heic heif avif svg svgz ico"
    " icns cur psd xcf raw cr2 cr3 crw nef nrw arw srf sr2 dng orf rw2 raf pef srw x3f mrw kdc"
    " jxl jxr jp2 j2k jpf jpx tga pcx ppm pgm pbm pnm pam pfm exr hdr dds qoi ai eps ora kra"
    " wmf emf xpm xbm fits",
    "video": "mp4 m4v mov qt avi mkv webm flv f4v wmv asf mpg mpeg mpe m2v mts m2ts 3gp 3g2"
    " 3gpp 3gpp2 ogv ogm vob rm rmvb divx mxf y4m mng swf bik",
    "audio": "mp3 mpga m4a m4b f4a aac flac wav wave ogg oga opus spx wma aif aiff aifc ape mid"
    " midi rmi amr awb au snd ra mka wv dsf dff caf ac3 dts xm s3m 669 mpc",
    "document": "pdf doc docx docm dotx dotm odt ott oth odm rtf xls xlsx xlsm xlsb xlt xltx"
    " xltm xla xlam ods ots ppt pptx pptm pps ppsx potx potm odp otp odg otg pages numbers"
    " wps wpd vsd vsdx xps oxps ps fdf",
    "book": "epub mobi azw azw3 kf8 fb2 fbz fb3 cbz cbr cb7 cbt djvu ibooks lit lrf",
    "text": "txt text log md markdown rst adoc asciidoc org csv tsv nfo srt vtt sub",
    "code": "py pyw pyi pyx pxd rs js mjs cjs jsx ts tsx mts cts go c h cc cpp cxx hpp hh hxx"
    " ipp inl m mm java kt kts scala groovy gradle clj cljs swift rb php pl pm lua r jl dart"
    " ex exs erl hrl hs ml mli fs fsx cs vb sh bash zsh fish ksh csh ps1 psm1 bat cmd asm s"
    " sql html htm xhtml css scss sass less vue svelte elm zig nim d cr coffee tcl vim el"
    " lisp scm rkt f f90 f95 pas ada adb ads cob proto thrift graphql tf hcl nix cmake mk"
    " ipynb awk tex latex sty cls bib patch diff wsgi",
    "config": "json json5 jsonc yaml yml toml ini cfg conf config properties env xml plist"
    " desktop service lock reg inf editorconfig gitignore gitattributes gitmodules npmrc"
    " bashrc zshrc profile bash_profile",
    "archive": "zip 7z rar tar gz tgz bz2 bzip2 tbz tbz2 tb2 xz txz lz lzma lz4 zst tzst z cab arj"
    " lzh lha ace cpio iso dmg img vhd vhdx qcow2 vmdk deb rpm squashfs sit sitx war whl"
    " egg alz zoo xar wim",
    "executable": "exe dll msi msp cpl ocx so dylib ko elf appimage apk aab ipa jar class dex"
    " pyc pyo wasm xpi crx",
    "font": "ttf otf ttc woff woff2 eot pfa pfb afm fon fnt bdf pcf",
    "database": "db sqlite sqlite3 db3 mdb accdb dbf frm ibd myd kdbx",
}
_EXTENSIONS: dict[str, str] = {ext: kind for kind, exts in _BY_KIND.items() for ext in exts.split()}
# Extensionless names that are code by convention.
_NAMES: dict[str, str] = dict.fromkeys(
    (
        "makefile",
        "dockerfile",
        "containerfile",
        "jenkinsfile",
        "vagrantfile",
        "gemfile",
        "rakefile",
        "justfile",
    ),
    "code",
)
_TEXTUAL = frozenset(("text", "code", "config"))

# A signature's data rows name MIME types; these say which kind a row is when its
# extension is not in the table above.
_MIME_PREFIXES = (
    ("image/", "image"),
    ("video/", "video"),
    ("audio/", "audio"),
    ("font/", "font"),
    ("application/x-font", "font"),
    ("text/", "text"),
)
_MIMES = {
    "application/x-executable": "executable",
    "application/x-sharedlib": "executable",
    "application/x-pef-executable": "executable",
    "application/vnd.microsoft.portable-executable": "executable",
    "application/x-sqlite2": "database",
    "application/x-sqlite3": "database",
    "application/x-gdbm": "database",
    "application/x-matroska": "video",
}
# Rows with neither a known extension nor a MIME type (ELF, Mach-O) say it in their name.
_NAME_WORDS = (("executable", "executable"), ("mach-o", "executable"), ("archive", "archive"))
# A signature shared by formats of several kinds (zip, OLE2, RIFF) is given the first of
# its kinds in this order; the file's extension may still refine it.
_PRECEDENCE = (
    "archive",
    "document",
    "audio",
    "video",
    "image",
    "book",
    "executable",
    "font",
    "database",
    "code",
    "config",
    "text",
)


_TEXT_PROBE = 512  # bytes looked at to tell text from binary
_MIN_TEXTUAL_SIGNATURE = 4  # a shorter ASCII signature on a text file is a coincidence ("if")
_MAX_OFFSET = 8 * 1024  # the indexer passes the first 8 KiB of a large file
# Some rows of the data spell bytes as C escapes (``\\037\\213``, ``ustar\\0``).
_C_ESCAPE = re.compile(rb"\\(?:x[0-9a-fA-F]{2}|[0-7]{1,3})")


class _Hit(NamedTuple):
    """What a matching signature says about a file."""

    kind: str
    exts: dict[str, str]  # extensions the signature's data lists, with their kinds
    textual: bool  # the signature is printable ASCII, so a text file can start with it
    length: int  # longer signatures are more specific


# A candidate signature: its bytes, its hit (None when its rows name none of our kinds),
# and its sub-signatures (absolute offset, bytes, hit), tried first once it matches.
_Candidate = tuple[bytes, _Hit | None, tuple[tuple[int, bytes, _Hit], ...]]
_Table = dict[bytes, tuple[_Candidate, ...]]  # leading bytes -> candidates, longest first


def kind_from_extension(ext: str) -> str:
    """The kind an extension (without the dot, any case) names, or ``unknown``."""
    return _EXTENSIONS.get(ext.lower(), "unknown")


def kind_of(name: str, head: bytes | None) -> str:
    """The kind of a file named `name` whose content starts with `head`.

    `head` is what the indexer already read for hashing (the whole file up to 100 KiB, else
    its first 8 KiB), or None when the file could not be read: nothing more is read here.
    """
    _, dot, ext = name.rpartition(".")
    if dot:
        ext = ext.lower()
        ext_kind = _EXTENSIONS.get(ext)
    else:
        ext_kind = _NAMES.get(name.lower())
    if not head:
        return ext_kind or "unknown"
    hit = _at_start(head)
    if hit is not None:
        if hit.kind == ext_kind:
            return hit.kind
        if dot and ext in hit.exts:
            return hit.exts[ext]
        if ext_kind is None and not hit.textual:
            return hit.kind  # a binary signature, and nothing in the name to refine it
    if hit is None or hit.textual:
        if ext_kind is None:
            if _reads_as_text(head):
                if hit is not None and hit.length >= _MIN_TEXTUAL_SIGNATURE:
                    return hit.kind
                return "code" if head.startswith(b"#!") else "text"
        elif head.find(b"\0", 0, _TEXT_PROBE) < 0:
            return ext_kind
        elif hit is None and ext_kind not in _TEXTUAL:
            return ext_kind  # binary, as the name says, and nothing at the start says otherwise
    best = hit
    size = len(head)
    for end, offset, table in _AT_OFFSETS:
        if size < end:
            break
        candidates = table.get(head[offset:end])
        if candidates is not None:
            found = _match(head, candidates, offset)
            if found is not None:
                if found.kind == ext_kind:
                    return found.kind
                if dot and ext in found.exts:
                    return found.exts[ext]
                if best is None or found.length > best.length:
                    best = found
    if best is not None:
        return best.kind
    if ext_kind in _TEXTUAL:
        return "unknown"  # a NUL early on: binary content cannot be a text format
    return ext_kind or "unknown"


def _at_start(head: bytes) -> _Hit | None:
    """The longest signature at offset 0: a lookup on 4 bytes, then on 2."""
    candidates = _START_LONG.get(head[:4])
    if candidates is not None:
        found = _match(head, candidates, 0)
        if found is not None:
            return found
    candidates = _START_SHORT.get(head[:2])
    return None if candidates is None else _match(head, candidates, 0)


def _match(head: bytes, candidates: tuple[_Candidate, ...], offset: int) -> _Hit | None:
    """The first (longest) of `candidates` found at `offset`, refined by its sub-signatures."""
    for sig, hit, subs in candidates:
        if head.startswith(sig, offset):
            for sub_offset, sub, sub_hit in subs:
                if head.startswith(sub, sub_offset):
                    return sub_hit
            if hit is not None:
                return hit
    return None


def _reads_as_text(head: bytes) -> bool:
    """No NUL and valid UTF-8 in the first bytes (a character cut at the end is fine)."""
    if head.find(b"\0", 0, _TEXT_PROBE) >= 0:
        return False
    try:
        head[:_TEXT_PROBE].decode()
    except UnicodeDecodeError as e:
        return e.reason == "unexpected end of data"
    return True


# Compiling puremagic's signature data, once at import.

_Row = tuple[str, str | None]  # (extension without the dot, which of our kinds it is)


def _row(ext: str, mime: str, description: str) -> _Row:
    """One row of the signature data as (extension, kind), the kind None if none fits."""
    ext = ext.rpartition(".")[2].lower()
    if ext in _EXTENSIONS:
        return ext, _EXTENSIONS[ext]
    mime = mime.strip()
    if mime in _MIMES:
        return ext, _MIMES[mime]
    for prefix, kind in _MIME_PREFIXES:
        if mime.startswith(prefix):
            return ext, kind
    lowered = description.lower()
    return ext, next((kind for word, kind in _NAME_WORDS if word in lowered), None)


def _signature(hex_sig: str) -> bytes:
    """A signature's bytes, with C escapes decoded where the data used them."""
    sig = bytes.fromhex(hex_sig)
    if not _C_ESCAPE.search(sig):
        return sig
    try:
        return sig.decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError:  # not escapes after all: keep the bytes as they are
        return sig


def _hit(own: list[_Row], listed: list[_Row], length: int, textual: bool) -> _Hit | None:
    """A signature's hit: its kind from its own rows, extensions from the `listed` rows."""
    kinds = {kind for _, kind in own if kind}
    if not kinds:
        return None
    kind = next(k for k in _PRECEDENCE if k in kinds)
    exts = {ext: row_kind for ext, row_kind in listed if ext and row_kind}
    return _Hit(kind, exts, textual, length)


def _is_textual(sig: bytes) -> bool:
    """Whether a text file could start with `sig`: printable ASCII and whitespace only."""
    return all(32 <= b < 127 or b in b"\t\n\r" for b in sig)


def _sub_signatures(
    multi_part: dict[str, list[list]], parents: dict[bytes, _Hit | None]
) -> dict[bytes, tuple[tuple[int, bytes, _Hit], ...]]:
    """puremagic's "multi-part" rows: bytes further on that refine a signature (RIFF, FORM).

    A sub-signature that says no more than its parent (the many ID3 frame names) is
    dropped, and so is one at a negative offset (from the end, which the head may miss).
    """
    refined = {}
    for parent_hex, rows in multi_part.items():
        parent = _signature(parent_hex)
        by_sub: dict[tuple[int, bytes], list[_Row]] = {}
        for sub_hex, offset, ext, mime, description in rows:
            if offset >= 0:
                by_sub.setdefault((offset, _signature(sub_hex)), []).append(
                    _row(ext, mime, description)
                )
        plain = parents.get(parent)
        subs = []
        for (offset, sub), sub_rows in sorted(by_sub.items(), key=lambda item: -len(item[0][1])):
            hit = _hit(sub_rows, sub_rows, len(parent) + len(sub), textual=False)
            if hit is not None and (plain is None or hit[:2] != plain[:2]):
                subs.append((offset, sub, hit))
        if subs:
            refined[parent] = tuple(subs)
    return refined


def _specific(offset: int, sig: bytes) -> bool:
    """Whether a signature says enough to be trusted at its offset.

    At the start 2 bytes will do: formats begin there. Further in, it must also have 3
    distinct byte values (``04 00 00 00`` at 524 is an integer any binary may hold there)
    and lie within the head the indexer reads.
    """
    if offset == 0:
        return len(sig) >= 2
    return len(set(sig)) >= 3 and offset + len(sig) <= _MAX_OFFSET


def _table(candidates: list[_Candidate], width: int) -> _Table:
    """Candidates keyed by their first `width` bytes, the longest first under each key."""
    keyed: dict[bytes, list[_Candidate]] = {}
    for candidate in sorted(candidates, key=lambda c: -len(c[0])):
        keyed.setdefault(candidate[0][:width], []).append(candidate)
    return {key: tuple(group) for key, group in keyed.items()}


def _compile() -> tuple[_Table, _Table, tuple[tuple[int, int, _Table], ...]]:
    """Turn puremagic's signature data into tables keyed by the bytes at each offset.

    Rows are grouped by (offset, bytes). A signature also lists the extensions of every
    shorter one it starts with, so a zip matching the longer jar signature still lists
    docx. Signatures too weak to trust where they stand (`_specific`) and footers (the
    head is not the end of the file) are dropped.
    """
    data = json.loads(files("puremagic").joinpath("magic_data.json").read_text(encoding="utf-8"))
    groups: dict[tuple[int, bytes], list[_Row]] = {}
    for hex_sig, offset, ext, mime, description in data["headers"]:
        sig = _signature(hex_sig)
        if _specific(offset, sig):
            groups.setdefault((offset, sig), []).append(_row(ext, mime, description))
    hits = {}
    for (offset, sig), rows in groups.items():
        listed = [row for n in range(2, len(sig) + 1) for row in groups.get((offset, sig[:n]), ())]
        hits[offset, sig] = _hit(rows, listed, len(sig), _is_textual(sig))
    at_start = {sig: hit for (offset, sig), hit in hits.items() if offset == 0}
    subs = _sub_signatures(data["multi-part"], at_start)
    by_offset: dict[int, list[_Candidate]] = {}
    for (offset, sig), hit in hits.items():
        if hit is not None or sig in subs:
            by_offset.setdefault(offset, []).append((sig, hit, subs.get(sig, ())))
    start = by_offset.pop(0)
    at_offsets = []
    for offset, candidates in by_offset.items():
        width = min(len(sig) for sig, _, _ in candidates)
        at_offsets.append((offset + width, offset, _table(candidates, width)))
    return (
        _table([c for c in start if len(c[0]) >= 4], 4),
        _table([c for c in start if len(c[0]) < 4], 2),
        tuple(sorted(at_offsets, key=lambda entry: entry[0])),  # by end: stop at the first too long
    )


_START_LONG, _START_SHORT, _AT_OFFSETS = _compile()
