"""Debian's chromium for the browser tests and the Explorer's benchmark: installed with
apt-get when missing (never a browser downloaded by a test tool), started headless with the
flags that keep it quiet on a machine with no network but loopback."""

from __future__ import annotations

from pathlib import Path

from tools.bench_common import ensure_tool

# No sandbox (CI runs as root), no GPU, no traffic of its own (updates, sync, field trials),
# no first-run page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]


def chromium() -> Path | None:
    """The chromium binary, installed from Debian's package if it can be; None otherwise
    (not root, no apt-get)."""
    found = ensure_tool("chromium", "chromium")
    return Path(found) if found else None
