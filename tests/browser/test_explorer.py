"""The Explorer as a person uses it, in Debian's chromium against a real ``sd node run``:
log in, browse, open a thumbnail, tag a file, search as they type, see a file another
device holds with its holder, watch a file made on disk appear without a reload, look at a
folder as it was, and be refused (and told to log in) without a session, a CSRF token or
from a foreign Origin. axe-core finds no serious violation on the main views, in the light
and the dark theme; a phone-sized screen shows them without sideways scrolling."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PICTURE_SIZE, Explorer, axe_serious, log_in
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, running, until
from tests.helpers_tree import write

pytestmark = pytest.mark.slow

# The wait for a file made on disk to show (the latency figure is the benchmark's).
APPEARS_WITHIN_MS = 10_000
# Pictures the media job takes some seconds over (it runs at nice 19): time to see it move,
# pause it, resume it and cancel it.
JOB_PICTURES = 250


def folder(page: Any, explorer: Explorer, *parts: str) -> None:
    """Open a folder the way a person does: the location in the tree, then each folder."""
    page.locator("#tree button.open", has_text=explorer.tree.name).click()
    for part in parts:
        page.locator(".grid button.item", has_text=part).click()
    expect(page.locator("#main h2")).to_have_text(parts[-1] if parts else explorer.tree.name)


def test_log_in_browse_open_a_thumbnail_and_tag_a_file(page: Any, explorer: Explorer) -> None:
    page.goto("/")
    expect(page.get_by_label("Password")).to_be_visible()
    explorer.shot(page, "login")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("wrong password")
    log_in(page)
    folder(page, explorer)
    names = page.locator(".grid button.item span:last-child")
    expect(names).to_have_text(["docs", "old", "pics"])
    folder(page, explorer, "pics")
    # The grid shows the picture's thumbnail, as the browser decoded it.
    page.wait_for_function(
        "() => { const i = document.querySelector('.grid img.thumb');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    explorer.shot(page, "folder-grid")
    page.get_by_role("button", name="red.png, image").click()
    details = page.get_by_role("complementary", name="Details")
    expect(details.get_by_role("heading", name="red.png")).to_be_focused()
    expect(details).to_contain_text(f"{PICTURE_SIZE[0]} × {PICTURE_SIZE[1]}")
    expect(details).to_contain_text("Held by")
    # Opening the thumbnail: the large one, in a dialog.
    details.get_by_role("button", name="Open the picture of red.png").click()
    viewer = page.get_by_role("dialog", name="Picture")
    expect(viewer).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    explorer.shot(page, "picture")
    viewer.get_by_role("button", name="Close").click()
    # Tagging it: the tag is on the file, for the CLI as for the page.
    details.get_by_label("Add a tag").fill("Holiday")
    details.get_by_label("Add a tag").press("Enter")
    expect(details.get_by_role("list", name="Tags")).to_contain_text("Holiday")
    explorer.shot(page, "details")
    (shown,) = explorer.ash.json("ls", str(explorer.tree / "pics" / "red.png"))
    assert shown["tags"] == ["Holiday"]
    # And removed there.
    details.get_by_role("button", name="Remove the tag Holiday").click()
    expect(details).to_contain_text("No tags.")
    (shown,) = explorer.ash.json("ls", str(explorer.tree / "pics" / "red.png"))
    assert shown["tags"] == []
    # The list, sorted by size, biggest first.
    folder(page, explorer, "docs")
    page.get_by_role("button", name="List", exact=True).click()
    page.get_by_role("button", name="Size", exact=True).click()
    page.get_by_role("button", name="Size", exact=True).click()
    expect(page.get_by_role("columnheader", name="Size")).to_have_attribute(
        "aria-sort", "descending"
    )
    rows = page.locator("table[aria-label='Folder contents'] td.name")
    expect(rows).to_have_text(["report.txt", "notes.md"])
    explorer.shot(page, "folder-list")


def test_search_as_you_type_shows_each_files_holder_by_keyboard_alone(
    page: Any, explorer: Explorer
) -> None:
    log_in(page)
    # The tree names the device holding each location.
    expect(page.get_by_role("button", name="inbox on birch")).to_be_visible()
    # Keyboard alone: from the page's start, Tab reaches the search box; typing searches.
    search = page.get_by_role("searchbox", name="Search files")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    expect(search).to_be_focused()
    page.keyboard.type("birch-on")
    results = page.get_by_role("table", name="Search results")
    row = results.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.name button")).to_have_text("birch-only.txt")
    expect(row.locator("td.device")).to_have_text("birch")
    # A file of this device's, found as the query changes, shows this device.
    search.fill("report.txt")
    expect(row.locator("td.name button")).to_have_text("report.txt")
    expect(row.locator("td.device")).to_have_text("ash")
    # Filters: a kind the file is not finds nothing.
    page.get_by_label("Kind").select_option("image")
    expect(results).to_have_count(0)
    expect(page.locator("#results")).to_contain_text("No file matches.")
    page.get_by_label("Kind").select_option("text")
    expect(row).to_have_count(1)
    explorer.shot(page, "search")
    # Enter on a result opens its details, focus on them.
    row.locator("td.name button").focus()
    page.keyboard.press("Enter")
    details = page.get_by_role("complementary", name="Details")
    expect(details.get_by_role("heading", name="report.txt")).to_be_focused()
    expect(details).to_contain_text("created on ash")


def test_a_file_made_on_disk_appears_without_a_reload_and_the_slider_shows_before(
    page: Any, explorer: Explorer
) -> None:
    log_in(page)
    folder(page, explorer, "docs")
    page.evaluate("window.sameDocument = true")
    names = page.locator(".grid button.item span:last-child")
    expect(names).to_have_text(["notes.md", "report.txt"])
    # A keyboard user is on an item when the folder changes: they stay on it.
    page.get_by_role("button", name="notes.md, text").focus()
    before = explorer.ash.json("log", "stats")["events"]
    started = time.monotonic()
    (explorer.tree / "docs" / "arrived.txt").write_text("made while the page was open\n")
    expect(names).to_have_text(["arrived.txt", "notes.md", "report.txt"], timeout=APPEARS_WITHIN_MS)
    expect(page.get_by_role("button", name="notes.md, text")).to_be_focused()
    seen_s = time.monotonic() - started
    assert page.evaluate("window.sameDocument") is True  # no reload
    print(f"\na file made on disk shown by the page after {seen_s:.2f} s")
    # The time slider: the folder as it was before the file came, then now again.
    slider = page.get_by_role("slider", name="Position in the library's history")
    slider.evaluate("(el, at) => { el.value = at; el.dispatchEvent(new Event('change')); }", before)
    expect(names).to_have_text(["notes.md", "report.txt"])
    expect(page.locator("#main output")).to_contain_text(f"as it was at event {before}")
    explorer.shot(page, "folder-in-the-past")
    page.get_by_role("button", name="Now").click()
    expect(names).to_have_text(["arrived.txt", "notes.md", "report.txt"])
    # A search, as it was then and now.
    page.get_by_role("searchbox", name="Search files").fill("arrived")
    hits = page.get_by_role("table", name="Search results").locator("td.name button")
    expect(hits).to_have_text(["arrived.txt"])
    slider = page.get_by_role("slider", name="Position in the library's history")
    slider.evaluate("(el, at) => { el.value = at; el.dispatchEvent(new Event('change')); }", before)
    expect(page.locator("#results")).to_contain_text("No file matches.")
    page.get_by_role("button", name="Now").click()
    expect(hits).to_have_text(["arrived.txt"])


def test_without_a_session_the_page_asks_to_log_in_and_foreign_writes_are_refused(
    page: Any, explorer: Explorer
) -> None:
    log_in(page)
    context = page.context
    csrf = page.evaluate("fetch('/api/v1/session').then(r => r.json()).then(s => s.csrf)")
    assert csrf
    write = f"{explorer.url}/api/v1/op/tag.create"
    # A write with the session but without its CSRF token: refused.
    refused = page.evaluate(
        "url => fetch(url, {method: 'POST', headers: {'content-type': 'application/json'},"
        " body: JSON.stringify({name: 'NoToken'})}).then(r => r.json())",
        write,
    )
    assert refused["error"]["code"] == "csrf"
    # With the token, from another site's Origin: refused.
    foreign = context.request.post(
        write,
        data={"name": "Foreign"},
        headers={"x-csrf-token": csrf, "origin": "http://evil.example"},
    )
    assert (foreign.status, foreign.json()["error"]["code"]) == (403, "foreign_origin")
    names = [t["name"] for t in explorer.ash.json("tag", "list")]
    assert "NoToken" not in names and "Foreign" not in names
    # The session ends (elsewhere): the page's next request is refused, and it asks to log in.
    context.request.post(
        f"{explorer.url}/api/v1/logout", headers={"x-csrf-token": csrf, "origin": explorer.url}
    )
    page.get_by_role("button", name="Jobs").click()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    # A fresh visit without a session: the login, and no data.
    page.goto("/")
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.locator("#tree button")).to_have_count(0)
    # Logged in again, the Log out button ends the session.
    log_in(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Password")).to_be_visible()
    assert (
        page.evaluate("fetch('/api/v1/op/tag.list', {method: 'POST'}).then(r => r.status)") == 401
    )


VIEWS = ["files", "search", "duplicates", "devices", "jobs", "log", "drop", "proposals"]


# The light theme is checked by every rule of axe; the dark one differs by its colours only.
@pytest.mark.parametrize(("scheme", "rules"), [("light", None), ("dark", ["color-contrast"])])
def test_axe_finds_no_serious_violation_on_the_main_views(
    page: Any, explorer: Explorer, scheme: str, rules: list[str] | None
) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto("/")
    expect(page.get_by_label("Password")).to_be_visible()
    found = {"login": axe_serious(page, rules)}
    log_in(page)
    folder(page, explorer, "pics")
    page.get_by_role("button", name="red.png, image").click()
    expect(page.get_by_role("complementary", name="Details")).to_contain_text("Media")
    found["folder and details"] = axe_serious(page, rules)
    page.get_by_role("button", name="List", exact=True).click()
    found["folder as a list"] = axe_serious(page, rules)
    for view in VIEWS[1:]:
        page.locator(f'.views button[data-view="{view}"]').click()
        expect(page.locator(f'.views button[data-view="{view}"]')).to_have_attribute(
            "aria-current", "page"
        )
        expect(page.locator("#main h2")).to_be_visible()
        found[view] = axe_serious(page, rules)
        explorer.shot(page, f"{view}-{scheme}")
    assert {view: v for view, v in found.items() if v} == {}


def test_a_phone_sized_screen_shows_the_views_without_sideways_scrolling(
    browser: Any, explorer: Explorer
) -> None:
    context = browser.new_context(
        base_url=explorer.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        page = context.new_page()
        log_in(page)
        folder(page, explorer, "docs")
        wide = {}
        for view in VIEWS:
            page.locator(f'.views button[data-view="{view}"]').click()
            expect(page.locator("#main h2")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[view] = width
            explorer.shot(page, f"phone-{view}")
        assert wide == {}
    finally:
        context.close()


def test_a_jobs_progress_shows_live_and_the_page_pauses_resumes_and_cancels_it(
    page: Any, explorer: Explorer, tmp_path: Path
) -> None:
    from PIL import Image

    roll = tmp_path / "camera-roll"
    roll.mkdir()
    for i in range(JOB_PICTURES):
        Image.new("RGB", (640, 480), (i % 256, 7 * i % 256, 13 * i % 256)).save(roll / f"{i}.png")
    log_in(page)
    page.get_by_role("button", name="Jobs").click()
    explorer.ash.json("location", "add", str(roll))
    # The folder's media job (its index job, done already, is the row above).
    row = page.locator("tbody tr", has_text=str(roll)).filter(has_text="media")
    bar = row.get_by_role("progressbar")
    # Live: the bar moves while the page stays as it is.
    expect(bar).to_have_attribute("value", re.compile(r"^[1-9]\d*$"), timeout=10_000)
    first = int(bar.get_attribute("value") or 0)
    page.wait_for_function(
        "([path, first]) => [...document.querySelectorAll('tbody tr')].some(r =>"
        " r.textContent.includes(path) && Number(r.querySelector('progress')?.value) > first)",
        arg=[str(roll), first],
    )
    explorer.shot(page, "jobs-running")
    state = row.locator("td").nth(2)
    # By keyboard: the table is drawn again each second, the focus stays on the button.
    pause = row.get_by_role("button", name=re.compile("^Pause the media job"))
    pause.focus()
    page.wait_for_timeout(1500)
    expect(pause).to_be_focused()
    page.keyboard.press("Enter")
    expect(state).to_contain_text("paused")
    (job,) = [
        j
        for j in explorer.ash.json("jobs", "list")
        if j["path"] == str(roll) and j["kind"] == "media"
    ]
    assert job["state"] == "paused"
    row.get_by_role("button", name=re.compile("^Resume the media job")).click()
    expect(state).not_to_contain_text("paused")
    row.get_by_role("button", name=re.compile("^Cancel the media job")).click()
    expect(state).to_contain_text("cancelled")
    expect(row.get_by_role("button")).to_have_count(0)


def inbox(sd: Sd) -> Path:
    (library,) = (sd.data_dir / "libraries").glob("*.sdlibrary")
    return library / "inbox"


def test_spacedrop_an_offer_accepted_on_the_page_and_a_file_sent_from_it(
    page: Any, explorer: Explorer, tmp_path: Path
) -> None:
    carol = device(tmp_path, "carol")
    carol.json("library", "create", "Elsewhere")  # a node serves once it has a library
    offered = write(tmp_path, "for-ash.txt", "from carol, who is not paired\n")
    network = explorer.ash.json("node", "status")["network"]
    with running(Peer(carol, tmp_path / "carol.log")):
        log_in(page)
        page.get_by_role("button", name="Spacedrop").click()
        expect(page.locator("#drop-offers")).to_contain_text("No drops.")
        sending = carol.popen(
            "drop", "send", "--to", network["device"], "--address", network["addresses"][0],
            str(offered), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            # The offer shows by itself; accepted on the page, the file lands in the inbox.
            accept = page.get_by_role("button", name="Accept the drop from carol")
            expect(accept).to_be_visible(timeout=15_000)
            explorer.shot(page, "drop-offer")
            accept.click()
            row = page.locator("#drop-offers tbody tr", has_text="from carol")
            expect(row.locator("td.state")).to_have_text("done", timeout=15_000)
            _, err = sending.communicate(timeout=30)
            assert sending.returncode == 0, err
        finally:
            if sending.poll() is None:
                sending.kill()
                sending.wait()
    assert (inbox(explorer.ash) / "for-ash.txt").read_text() == offered.read_text()
    # Sent from the page to birch (paired: taken at once).
    report = explorer.tree / "docs" / "report.txt"
    page.get_by_label("To device").select_option(label="birch")
    page.get_by_label("Files (one path a line)").fill(str(report))
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#drop-said")).to_have_text("Sent: done", timeout=15_000)
    assert (inbox(explorer.birch) / "report.txt").read_bytes() == report.read_bytes()


def test_a_node_without_a_password_says_how_to_set_one(browser: Any, tmp_path: Path) -> None:
    fresh = device(tmp_path, "fresh")
    fresh.json("library", "create", "Home")
    with running(Peer(fresh, tmp_path / "fresh.log")):
        url = fresh.json("node", "status")["http"]["url"]
        context = browser.new_context(base_url=url)
        try:
            page = context.new_page()
            page.goto("/")
            expect(page.locator("#login-how")).to_be_visible()
            expect(page.locator("#login-how")).to_contain_text("sd web password")
            expect(page.get_by_label("Password")).to_be_hidden()
            expect(page.locator("#app")).to_be_hidden()
        finally:
            context.close()


def test_duplicates_devices_and_the_log_as_it_happens(page: Any, explorer: Explorer) -> None:
    log_in(page)
    page.get_by_role("button", name="Duplicates").click()
    group = page.get_by_role("table", name="Duplicate groups").locator("tbody tr")
    expect(group).to_have_count(1)
    copy = explorer.tree / "old" / "report (copy).txt"
    expect(group.get_by_role("button")).to_have_text(
        sorted([str(explorer.tree / "docs" / "report.txt"), str(copy)])
    )
    group.get_by_role("button", name=str(copy)).click()
    details = page.get_by_role("complementary", name="Details")
    expect(details.get_by_role("heading", name="report (copy).txt")).to_be_focused()
    expect(details).to_contain_text("Copies2")
    # A file birch holds: its details say so.
    page.get_by_role("searchbox", name="Search files").fill("birch-only")
    page.get_by_role("table", name="Search results").get_by_role("button").click()
    expect(details).to_contain_text("Held bybirch")
    # Devices: birch, connected, and why it is (or is not) in step.
    page.get_by_role("button", name="Devices").click()
    birch = page.get_by_role("table", name="Devices and sync status").locator(
        "tbody tr", has_text="birch"
    )
    expect(birch.locator("td").nth(2)).to_have_text("yes")
    expect(birch.locator("td.reason")).not_to_be_empty()
    # The log: an event made now (a tag, by the CLI) shows at its end without a reload.
    page.get_by_role("button", name="Log", exact=True).click()
    lines = page.get_by_role("list", name="Events, newest last").locator("li")
    expect(lines.first).to_be_visible()
    explorer.ash.json("tag", "create", "Seen-live")
    made = lines.filter(has_text="tag.created").filter(has_text="Seen-live")
    expect(made).to_have_count(1, timeout=APPEARS_WITHIN_MS)
    expect(lines.last).to_contain_text("action.completed")  # the tag's action, after it


def test_an_agents_proposal_previewed_and_accepted_on_the_page(
    page: Any, explorer: Explorer
) -> None:
    granted = explorer.tree / "agent"
    copies = [write(granted, f"{folder}/plan.txt", "the plan, twice\n") for folder in ("a", "b")]
    until(lambda: len(explorer.ash.json("search", "plan.txt")) == 2, 10, "both copies indexed")
    explorer.ash.run("agent", "grant", "duplicates", "--location", str(granted))
    explorer.ash.run("agent", "enable", "duplicates")
    explorer.ash.json("agent", "run", "duplicates")
    log_in(page)
    page.get_by_role("button", name="Proposals").click()
    card = page.get_by_role("list", name="Proposals").locator("li.proposal", has_text="plan.txt")
    expect(card).to_have_count(1)
    card.get_by_role("button", name=re.compile("^Preview")).click()
    trashed = card.get_by_role("list", name="What it would do").locator("li li")
    expect(trashed).to_have_count(1)
    expect(trashed).to_contain_text("to the trash: ")
    doomed = trashed.inner_text().removeprefix("to the trash: ")
    assert doomed in {str(c) for c in copies}
    explorer.shot(page, "proposal")
    assert axe_serious(page) == []
    card.get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.locator("#main")).to_contain_text("No open proposals.")
    assert [c.exists() for c in copies] == [str(c) != doomed for c in copies]
    page.get_by_label("Decided ones too").check()
    decided = page.locator("li.proposal", has_text="plan.txt")
    expect(decided).to_contain_text(re.compile("State(accepted|applied)"))
