"""The Explorer's page is package data: every file under ``static/`` must be installed with
the package (a module the page imports but the build leaves out is a blank page on an
installed node), and its modules import only each other, never a URL."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "sdactors" / "node" / "http" / "static"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_every_file_of_the_page_is_built_into_the_package(tmp_path: Path) -> None:
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("events", "projections", "sdactors"):
        shutil.copytree(ROOT / package, source / package, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    built = tmp_path / "built"
    done = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
         "-d", str(built)],
        cwd=source, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert _files(built / "sdactors" / "node" / "http" / "static") == _files(STATIC)


# A static import statement's module, or a dynamic import's.
IMPORTS = re.compile(r"""^import\s[^;]*?from\s+"([^"]+)";|import\("([^"]+)"\)""", re.M)


def test_the_pages_modules_import_only_each_other() -> None:
    modules = _files(STATIC / "js")
    seen = 0
    for name in sorted(modules):
        for found in IMPORTS.findall((STATIC / "js" / name).read_text()):
            target = found[0] or found[1]
            seen += 1
            assert target.startswith("./") and target[2:] in modules, (name, target)
    assert seen > len(modules)  # the pattern does find the imports
