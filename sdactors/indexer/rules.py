"""Indexer rules: what a location's walk skips.

Defaults follow Spacedrive's: system files and folders are skipped, so are the internals of
``.git`` and the folders development tools fill (``node_modules``, ``__pycache__``, a Rust
``target`` beside its ``Cargo.toml``...), and ``.gitignore`` is honoured inside git
repositories. Hidden files are indexed unless a rule says otherwise. Extra patterns use
gitignore syntax, relative to the location's root.

Rules are data (``as_dict``) so they travel in ``location.added`` and
``location.rules_changed`` events and every device sees what a location skips.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Sequence

from pathspec import GitIgnoreSpec

from sdactors.runtime.errors import InvalidPattern
from sdactors.runtime.paths import PARTIAL

# Names no one means to index: OS bookkeeping on every platform this may run on.
SYSTEM_NAMES = frozenset(
    {
        b".DS_Store",
        b".AppleDouble",
        b".LSOverride",
        b".Spotlight-V100",
        b".Trashes",
        b".fseventsd",
        b".TemporaryItems",
        b".DocumentRevisions-V100",
        b".VolumeIcon.icns",
        b"Thumbs.db",
        b"ehthumbs.db",
        b"desktop.ini",
        b"$RECYCLE.BIN",
        b"System Volume Information",
        b"lost+found",
        b".directory",
    }
)
SYSTEM_PREFIXES = (b"._", b".Trash-", b".nfs")

# Folders that development tools create and refill; their contents are not anyone's files.
DEV_FOLDERS = frozenset(
    {
        b"node_modules",
        b"bower_components",
        b"__pycache__",
        b".pytest_cache",
        b".mypy_cache",
        b".ruff_cache",
        b".tox",
        b".nox",
        b".gradle",
        b".next",
        b".nuxt",
        b".parcel-cache",
        b".svelte-kit",
        b".turbo",
        b".dart_tool",
        b".eggs",
    }
)
# Folders skipped only where a marker beside or inside them shows what they are.
DEV_FOLDERS_WITH_MARKER = {
    b"target": (b"../Cargo.toml",),  # a Rust build folder
    b".venv": (b"pyvenv.cfg",),  # a Python virtual environment
    b"venv": (b"pyvenv.cfg",),
}


# The names whose presence in a folder changes the rules in force inside it.
MARKERS = (b".git", b".gitignore")


@dataclass(frozen=True, slots=True)
class Rules:
    skip_system: bool = True
    skip_git: bool = True
    skip_dev: bool = True
    skip_hidden: bool = False
    gitignore: bool = True
    exclude: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "skip_system": self.skip_system,
            "skip_git": self.skip_git,
            "skip_dev": self.skip_dev,
            "skip_hidden": self.skip_hidden,
            "gitignore": self.gitignore,
            "exclude": list(self.exclude),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Rules":
        """Read rules written by this or an older version; unknown keys are ignored."""
        defaults = cls()
        return cls(
            skip_system=bool(data.get("skip_system", defaults.skip_system)),
            skip_git=bool(data.get("skip_git", defaults.skip_git)),
            skip_dev=bool(data.get("skip_dev", defaults.skip_dev)),
            skip_hidden=bool(data.get("skip_hidden", defaults.skip_hidden)),
            gitignore=bool(data.get("gitignore", defaults.gitignore)),
            exclude=tuple(str(p) for p in data.get("exclude", ())),
        )

    def changed(self, **changes: Any) -> "Rules":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def check(self, location: str | None = None) -> None:
        """Refuse rules a walk could not apply, before they are written or a walk starts;
        ``location`` names where stored rules came from."""
        compile_excludes(self.exclude, location)


def _why(exc: Exception, pattern: str) -> str:
    if isinstance(exc, re.error):
        return exc.msg  # without the position, which is in the translated regex
    # pathspec says why in the cause, ending with the pattern, which the message names anyway.
    text = str(exc.__cause__ or exc).removesuffix(f": {pattern!r}").rstrip(".")
    return text[:1].lower() + text[1:]


def _compile(lines: Sequence[str]) -> GitIgnoreSpec:
    with warnings.catch_warnings():
        # The regex pathspec makes of a bracket like "[[a]" draws a FutureWarning from re,
        # about that regex: nothing a user could act on.
        warnings.simplefilter("ignore", FutureWarning)
        return GitIgnoreSpec.from_lines(lines)


def _pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` cannot be compiled, or None if it can."""
    try:
        _compile([pattern])
    except (ValueError, re.error) as exc:
        return _why(exc, pattern)
    return None


def compile_excludes(patterns: Sequence[str], location: str | None = None) -> GitIgnoreSpec | None:
    """The exclude patterns as one spec; a pattern that cannot be compiled is named, with
    why (each is tried alone: pathspec's error for the whole list does not say why)."""
    if not patterns:
        return None
    for pattern in patterns:
        why = _pattern_error(pattern)
        if why is not None:
            raise InvalidPattern(pattern, why, location)
    return _compile(patterns)


class Matcher:
    """Decides, folder by folder, which children a walk keeps.

    Gitignore files are read as the walk enters the folders that hold them, and only inside
    a git repository (a folder with a ``.git``), as git itself does.
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._exclude = compile_excludes(rules.exclude)

    def folder(
        self, path: bytes, rel: bytes, names: set[bytes], parent: "FolderRules | None"
    ) -> "FolderRules":
        """The rules in force inside the folder at ``path`` (``rel`` from the location root)."""
        specs = list(parent.specs) if parent is not None else []
        in_repo = parent.in_repo if parent is not None else False
        if self.rules.gitignore:
            if b".git" in names:
                in_repo = True
                specs = []  # a nested repository starts afresh, as git does
            if in_repo and b".gitignore" in names:
                spec = _read_gitignore(os.path.join(path, b".gitignore"))
                if spec is not None:
                    specs.append((rel, spec))
        return FolderRules(self, path, rel, in_repo, tuple(specs))

    def folder_on_disk(
        self, path: bytes, rel: bytes, parent: "FolderRules | None"
    ) -> "FolderRules":
        """The rules inside a folder that is not being listed (a rescan of some folders
        passes through their ancestors): only the names that change the rules are looked up."""
        names = {name for name in MARKERS if os.path.lexists(os.path.join(path, name))}
        return self.folder(path, rel, names, parent)


class Exclusion(NamedTuple):
    """Which rule keeps an entry out: ``rule`` a short name, ``detail`` for people."""

    rule: str
    detail: str


def _matched(spec: GitIgnoreSpec, text: str) -> str:
    """The pattern of ``spec`` that decided ``text`` (gitignore: the last that matches)."""
    found = spec.check_file(text)
    if found.index is None:
        return "?"
    return str(getattr(spec.patterns[found.index], "pattern", "?"))


@dataclass(frozen=True, slots=True)
class FolderRules:
    matcher: Matcher
    path: bytes
    rel: bytes
    in_repo: bool
    specs: tuple[tuple[bytes, GitIgnoreSpec], ...]

    def keep(self, name: bytes, is_dir: bool) -> bool:
        return self.excluded_by(name, is_dir) is None

    def excluded_by(self, name: bytes, is_dir: bool) -> "Exclusion | None":
        """The rule that keeps the child ``name`` out of the walk, or None if it is kept.

        The one decision the walk applies (through ``keep``) and ``sd why`` reports."""
        rules = self.matcher.rules
        if name.startswith(PARTIAL):
            return Exclusion("partial", "a copy sd has not finished (.sd-partial-*)")
        if rules.skip_hidden and name[:1] == b".":
            return Exclusion("hidden", "hidden files are skipped (skip_hidden)")
        if rules.skip_system and (name in SYSTEM_NAMES or name.startswith(SYSTEM_PREFIXES)):
            return Exclusion("system", f"{os.fsdecode(name)!r} is a system file")
        if rules.skip_git and name == b".git":
            return Exclusion("git", "the internals of .git are skipped")
        if is_dir and rules.skip_dev and self._dev_folder(name):
            return Exclusion("dev", f"{os.fsdecode(name)!r} is a folder development tools fill")
        if self.specs or self.matcher._exclude is not None:
            rel = os.path.join(self.rel, name) if self.rel else name
            text = os.fsdecode(rel) + ("/" if is_dir else "")
            exclude = self.matcher._exclude
            if exclude is not None and exclude.match_file(text):
                return Exclusion("exclude", f"the exclude pattern {_matched(exclude, text)!r}")
            for base, spec in self.specs:
                local = text[len(os.fsdecode(base)) + 1 :] if base else text
                if spec.match_file(local):
                    where = os.fsdecode(os.path.join(self.matcher_root(base), b".gitignore"))
                    return Exclusion(
                        "gitignore", f"the pattern {_matched(spec, local)!r} of {where}"
                    )
        return None

    def matcher_root(self, base: bytes) -> bytes:
        """The folder (on disk) of the ancestor ``base`` (relative to the location root)."""
        root = self.path[: len(self.path) - len(self.rel)] if self.rel else self.path
        return os.path.join(root, base) if base else root.rstrip(b"/") or b"/"

    def _dev_folder(self, name: bytes) -> bool:
        if name in DEV_FOLDERS:
            return True
        markers = DEV_FOLDERS_WITH_MARKER.get(name)
        if markers is None:
            return False
        folder = os.path.join(self.path, name)
        return any(os.path.exists(os.path.normpath(os.path.join(folder, m))) for m in markers)


def _read_gitignore(path: bytes) -> GitIgnoreSpec | None:
    try:
        with open(path, "rb") as fh:
            lines = fh.read(1 << 20).decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return None
    try:
        return _compile(lines)
    except (ValueError, re.error):
        # A .gitignore is the user's file, not rules of ours: like git, skip the lines that
        # cannot be compiled rather than fail the walk.
        return _compile([line for line in lines if _pattern_error(line) is None])
