"""``sd ls``, ``sd search``, ``sd stats`` and ``sd node status``: what each asks and prints.

The click commands (``browse_cmds``, ``node_cmds``) and the front door (``front``) both run
these, so the two ways in print the same bytes. Nothing here imports click, rich or the
index's code: ``call`` sends a command to whoever answers it (``CliContext.call``, or the
node's socket directly) and ``Output`` prints.
"""

from __future__ import annotations

from typing import Any, Callable

from sdactors.cli.output import Output, offline_mark
from sdactors.runtime.paths import user_path
from sdactors.runtime.units import human_bytes

# A command by name and arguments, its result back.
Call = Callable[..., Any]
# sd search --limit: the most it takes, and what it is without one.
SEARCH_LIMIT_MOST = 10_000
SEARCH_LIMIT = 50
# sd search --min-width, --min-height: the most they take (the media data's own bound).
DIMENSION_MOST = 1 << 31
# sd search --sort: the orders there are besides the rank.
SORTS = ("taken",)
# What ``--mode`` takes (``sdactors/ops/meaning.py: MODES``, not imported here: the front
# door stays light).
MODES = ("fast", "balanced", "semantic")


def _absolute(path: str | None) -> bytes | None:
    return None if path is None else user_path(path)


def travel(call: Call, out: Output, library: str | None, at: str | None) -> int | None:
    """The position ``at`` names (None for the present); says so in text output."""
    if at is None:
        return None
    moment = call("log.moment", at=at, library=library)
    if not out.as_json:
        out.line(f"as of position {moment['position']} ({moment['when']}): a past state")
    position: int = moment["position"]
    return position


def _elsewhere(items: list[dict]) -> list[str]:
    """A "device" column, when what is shown is held by more than one device."""
    return ["device"] if len({i["device"] for i in items}) > 1 else []


def _held(item: dict, shared: list[str]) -> tuple[str, ...]:
    return (item["device_name"] or item["device"][:10],) if shared else ()


# A note in a table: its first line, cut to this many characters.
NOTE_SHOWN = 40


def _annotated(items: list[dict]) -> list[str]:
    """A "tags" and a "note" column, each when a file shown has one."""
    return [c for c in ("tags", "note") if any(i.get(c) for i in items)]


def _annotations(item: dict, columns: list[str]) -> tuple[str, ...]:
    cells = []
    if "tags" in columns:
        cells.append(", ".join(item["tags"]))
    if "note" in columns:
        note = (item["note"] or "").split("\n", 1)[0]
        cells.append(note if len(note) <= NOTE_SHOWN else note[: NOTE_SHOWN - 3] + "...")
    return tuple(cells)


def favourite_mark(item: dict) -> str:
    """What follows the name of a favourite."""
    return "  [favourite]" if item.get("favourite") else ""


def ls(call: Call, out: Output, path: str | None, at: str | None, library: str | None) -> None:
    pos = travel(call, out, library, at)
    items = call("ls", path=_absolute(path), at=pos, library=library)
    if out.as_json:
        out.json(items)
        return
    shared = _elsewhere(items)
    if path is None:
        out.table(
            ["name", "path", *shared],
            [(i["name"], i["path"] + offline_mark(i["offline"]), *_held(i, shared)) for i in items],
            "no locations: add one with 'sd location add PATH'",
        )
        return
    if any(i["offline"] for i in items):
        out.line("[offline] its volume is not there: as last indexed")
    annotated = _annotated(items)
    out.table(
        ["name", "kind", "size", "modified", "content", *annotated, *shared],
        [
            (
                i["name"] + ("/" if i["type"] == "dir" else "") + favourite_mark(i),
                i["kind"] or i["type"],
                "" if i["type"] == "dir" else human_bytes(i["size"]),
                i["modified"][:19].replace("T", " "),
                i["content_id"] or "",
                *_annotations(i, annotated),
                *_held(i, shared),
            )
            for i in items
        ],
        "(empty folder)",
    )


def search(
    call: Call,
    out: Output,
    query: str | None,
    kind: str | None,
    ext: str | None,
    under: str | None,
    limit: int,
    at: str | None,
    library: str | None,
    taken: str | None = None,
    min_width: int | None = None,
    min_height: int | None = None,
    camera: str | None = None,
    sort: str | None = None,
    reverse: bool = False,
    tags: tuple[str, ...] = (),
    favourite: bool = False,
    mode: str | None = None,
    taken_after: str | None = None,
    taken_before: str | None = None,
    modified_after: str | None = None,
    modified_before: str | None = None,
) -> None:
    hits = call(
        "search",
        query=query,
        kind=kind,
        ext=ext,
        under=_absolute(under),
        limit=limit,
        at=travel(call, out, library, at),
        library=library,
        taken=taken,
        min_width=min_width,
        min_height=min_height,
        camera=camera,
        sort=sort,
        reverse=reverse,
        tags=tuple(tags),
        favourite=favourite,
        mode=mode,
        taken_after=taken_after,
        taken_before=taken_before,
        modified_after=modified_after,
        modified_before=modified_before,
    )
    if out.as_json:
        out.json(hits)
        return
    shared = _elsewhere(hits)
    # A search by media data shows when each picture was taken.
    dates = ["taken"] if any("taken" in h for h in hits) else []
    annotated = _annotated(hits)
    # By meaning: how near each is to the query.
    scored = ["score"] if mode is not None else []
    out.table(
        ["path", "kind", "size", *dates, *scored, *annotated, *shared],
        [
            (
                h["path"] + offline_mark(h["offline"]) + favourite_mark(h),
                h["kind"] or h["type"],
                "" if h["type"] == "dir" else human_bytes(h["size"]),
                *((h["taken"] or "").replace("T", " ") for _ in dates),
                *(f"{h['score']:.2f}" for _ in scored),
                *_annotations(h, annotated),
                *_held(h, shared),
            )
            for h in hits
        ],
        "no matches",
    )


def stats(call: Call, out: Output, at: str | None, library: str | None) -> None:
    st = call("stats", at=travel(call, out, library, at), library=library)
    if out.as_json:
        out.json(st)
        return
    out.line(f"files    {st['files']:,}")
    out.line(f"folders  {st['dirs']:,}")
    out.line(f"bytes    {st['bytes']:,} ({human_bytes(st['bytes'])})")
    if st["other"]:
        out.line(f"other    {st['other']:,} (links, pipes, sockets, devices)")
    out.table(
        ["kind", "files", "bytes"],
        [(k, f"{n:,}", human_bytes(st["bytes_by_kind"][k])) for k, n in st["by_kind"].items()],
        "no files indexed",
    )


def progress_text(job: dict[str, Any]) -> str:
    """Done so far, the rate, and the time left when it can be told (a rescan)."""
    live = job.get("progress")
    if live is None:
        # A job status of the node's own (sd node status) has the same fields at the top.
        live = job if "done" in job else None
    if live is None:
        counts = job.get("checkpoint") or {}
        return f"{counts.get('files', 0):,} files at its last checkpoint" if counts else ""
    text = f"{live['done']:,}"
    if live.get("expected"):
        text += f" of ~{live['expected']:,}"
    text += f" entries, {live['rate_per_s']:,.0f}/s"
    if live.get("eta_s") is not None:
        text += f", ~{live['eta_s']:.0f} s left"
    counts = live.get("counts") or {}
    if counts.get("bytes"):
        text += f", {human_bytes(counts['bytes'])}"
    return text


def node_status(call: Call, out: Output) -> None:
    """What the running node is doing (``call`` reaches it: there is no running it here)."""
    st = call("node.status")
    if out.as_json:
        out.json(st)
        return
    out.line(f"pid         {st['pid']}")
    out.line(f"uptime      {st['uptime_s']:.0f} s")
    out.line(f"memory      {human_bytes(st['rss_bytes'])}")
    out.line(f"events/s    {st['events_per_s']:.1f}")
    net = st["network"]
    listening = ", ".join(net["addresses"]) or "-"
    out.line(
        f"network     device {net['device'][:10]}, listening on {listening}"
        + (f"; NOT RUNNING: {net['error']}" if net["error"] else "")
    )
    http = st.get("http")
    out.line(f"http        {http['url'] if http else 'off ([http] enabled = false)'}")
    out.table(
        ["library", "state", "error"],
        [(lib["name"], lib["state"], lib["error"] or "") for lib in st["libraries"]],
        "no libraries",
    )
    if st["jobs"]:
        out.table(
            ["job", "library", "kind", "state", "progress"],
            [(j["id"][:12], j["library"], j["kind"], j["state"], progress_text(j))
             for j in st["jobs"]],
            "",
        )  # fmt: skip
    for w in st["watching"]:
        mode = w["mode"] + (f" ({w['reason']})" if w["reason"] else "")
        out.line(f"watching    {w['root']}: {mode}")
