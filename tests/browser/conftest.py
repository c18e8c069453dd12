"""The Explorer in a real browser: Debian's chromium (installed here when missing, never a
downloaded browser), driven headless by Playwright against real ``sd node run`` processes on
127.0.0.1.

One browser per module; each test has its own context (its own cookies: a fresh login). The
node under test is ``ash``, paired with ``birch`` so that a file only birch holds shows with
its holder. Screenshots of the views go to a folder under pytest's temporary directory (its
path printed), for a person to look at; nothing there is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, pair, running, until
from tests.helpers_tree import write
from tools.chromium import CHROMIUM_ARGS, chromium

AXE = Path(__file__).parent / "vendor" / "axe-4.11.0.min.js"
PASSWORD = "correct horse battery staple"
# Made with Pillow at the fixture's start: a picture the media job thumbnails.
PICTURE_SIZE = (64, 48)


def ensure_chromium() -> Path:
    """Debian's chromium, installed with apt when missing (CI runs as root)."""
    found = chromium()
    if found is None:
        pytest.skip("Debian's chromium is not installed, and installing it needs root")
    return found


@dataclass
class Explorer:
    """The node under test and what a test needs to check the page against it."""

    url: str
    ash: Sd
    birch: Sd
    tree: Path
    birch_file: Path
    shots: Path

    def shot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    from PIL import Image

    root = tmp_path_factory.mktemp("explorer")
    ash, birch = device(root, "ash"), device(root, "birch")
    ash.json("library", "create", "Home")
    tree = root / "disk-ash"
    write(tree, "docs/report.txt", "the quarterly report\n")
    write(tree, "docs/notes.md", "# notes\n")
    write(tree, "old/report (copy).txt", "the quarterly report\n")  # a duplicate
    (tree / "pics").mkdir()
    Image.new("RGB", PICTURE_SIZE, (200, 40, 40)).save(tree / "pics" / "red.png")
    birch_file = write(root / "disk-birch", "inbox/birch-only.txt", "held by birch alone\n")
    ash.run("web", "password", input=PASSWORD + "\n")
    birch.run("web", "password", input=PASSWORD + "\n")
    shots = tmp_path_factory.mktemp("explorer-screenshots")
    print(f"\nExplorer screenshots: {shots}")
    peers = [Peer(sd, root / f"{sd.data_dir.name}.log") for sd in (ash, birch)]
    with running(*peers):
        pair(ash, birch)
        ash.json("location", "add", str(tree))
        birch.json("location", "add", str(birch_file.parent))
        until(
            lambda: any(h["path"] == str(birch_file) for h in ash.json("search", "birch-only")),
            30,
            "ash knows the file birch holds",
        )
        until(
            lambda: bool(ash.json("info", str(tree / "pics" / "red.png"))["thumbnails"]),
            30,
            "the picture's thumbnails made",
        )
        url = ash.json("node", "status")["http"]["url"]
        yield Explorer(url, ash, birch, tree, birch_file, shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module (Playwright gives it a fresh profile of its own,
    removed when it closes)."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, explorer: Explorer) -> Iterator[Any]:
    """A page of its own (own cookies), failing the test on any error the page's scripts
    raise."""
    context = browser.new_context(base_url=explorer.url, viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, errors


def log_in(page: Any, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.locator("#tree button.open").first.wait_for()


def axe_serious(page: Any, rules: list[str] | None = None) -> list[dict[str, Any]]:
    """What axe-core finds serious or critical on the page as it is now (every rule, or
    only ``rules``)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    found = page.evaluate(
        "async (options) => (await axe.run(document, options)).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))",
        options,
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]
