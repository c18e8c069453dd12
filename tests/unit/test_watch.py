"""The locations' watcher, on real folders under trio: what comes out, how fast, and what
happens when a location cannot be watched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import trio

from sdactors.watch.limits import Backoff, count_folders
from sdactors.watch.watcher import Changed, LocationWatcher, WatchedLocation

A, B = b"A" * 16, b"B" * 16
# Generous bounds: the node's target for a change to reach the index is 2 s.
LATENCY_BOUND_S = 5.0


def folders(root: Path, *names: str) -> bytes:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    return os.fsencode(root)


class Running:
    def __init__(self, watcher: LocationWatcher, receive: trio.MemoryReceiveChannel[Changed]):
        self.watcher = watcher
        self.receive = receive

    async def next(self, within: float = LATENCY_BOUND_S) -> Changed:
        with trio.fail_after(within):
            return await self.receive.receive()

    async def nothing_more(self, for_s: float = 1.5) -> None:
        """No batch comes within ``for_s``: longer than a quiet period and a batch's most."""
        with trio.move_on_after(for_s):
            extra = await self.receive.receive()
            pytest.fail(f"an unexpected batch: {extra}")

    async def maybe_next(self, for_s: float = 1.5) -> Changed | None:
        with trio.move_on_after(for_s):
            return await self.receive.receive()
        return None

    async def watching(self, location: bytes) -> None:
        """Wait for the whole rescan that says a location's watch is in place."""
        first = await self.next()
        assert first == Changed(location, (), True)
        assert self.watcher.status()[location.hex()]["mode"] == "watching"


async def started(nursery: trio.Nursery, watcher: LocationWatcher) -> Running:
    send, receive = trio.open_memory_channel[Changed](0)
    await nursery.start(watcher.run, send)
    return Running(watcher, receive)


async def test_a_burst_in_one_folder_is_one_batch_naming_it(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    root = folders(tmp_path, "busy", "calm")
    run = await started(nursery, LocationWatcher([WatchedLocation(A, root)]))
    await run.watching(A)
    for i in range(2000):
        (tmp_path / "busy" / f"f{i:04d}.txt").write_bytes(b"x")
    # One batch, or a few when writing the burst outlasts a batch's most (a busy machine):
    # never one per file, and only the busy folder.
    batches = [await run.next()]
    while (more := await run.maybe_next()) is not None:
        batches.append(more)
    assert set(batches) == {Changed(A, (root + b"/busy",))} and len(batches) <= 5


async def test_changes_in_two_folders_name_both_and_skipped_folders_none(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    root = folders(tmp_path, "one", "two/deeper", ".git/objects", "node_modules/pkg")
    run = await started(nursery, LocationWatcher([WatchedLocation(A, root)]))
    await run.watching(A)
    (tmp_path / "one" / "new.txt").write_bytes(b"1")
    (tmp_path / "two" / "deeper" / "new.txt").write_bytes(b"2")
    (tmp_path / ".git" / "objects" / "ab").write_bytes(b"git's own")
    (tmp_path / "node_modules" / "pkg" / "index.js").write_bytes(b"a tool's")
    seen: set[bytes] = set()
    while seen != {root + b"/one", root + b"/two/deeper"}:
        batch = await run.next()
        assert batch.location == A and not batch.whole
        seen.update(batch.folders)
        assert seen <= {root + b"/one", root + b"/two/deeper"}, seen
    await run.nothing_more()


async def test_a_change_is_reported_within_the_bound(
    nursery: trio.Nursery, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = folders(tmp_path, "docs")
    run = await started(nursery, LocationWatcher([WatchedLocation(A, root)]))
    await run.watching(A)
    latencies = []
    for i in range(3):
        start = time.monotonic()
        (tmp_path / "docs" / f"note{i}.txt").write_bytes(b"hello")
        assert await run.next() == Changed(A, (root + b"/docs",))
        latencies.append(time.monotonic() - start)
    with capsys.disabled():
        print(f"\nwatcher latency: {', '.join(f'{s * 1000:.0f} ms' for s in latencies)}")
    assert max(latencies) < LATENCY_BOUND_S


async def test_stopping_ends_the_task_promptly(tmp_path: Path) -> None:
    root = folders(tmp_path, "a", "b")
    watcher = LocationWatcher([WatchedLocation(A, root), WatchedLocation(B, root + b"/b")])
    with trio.fail_after(LATENCY_BOUND_S * 3):
        async with trio.open_nursery() as nursery:
            run = await started(nursery, watcher)
            await run.next()
            await run.next()
            watcher.stop()
        # The channel closes with the watcher.
        assert [batch async for batch in run.receive] == []


async def test_cancelling_the_task_ends_it_promptly(tmp_path: Path) -> None:
    root = folders(tmp_path, "a")
    with trio.fail_after(LATENCY_BOUND_S):
        async with trio.open_nursery() as nursery:
            run = await started(nursery, LocationWatcher([WatchedLocation(A, root)]))
            await run.watching(A)
            nursery.cancel_scope.cancel()


async def test_past_the_watch_limit_a_location_is_rescanned_with_a_growing_backoff(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    root = folders(tmp_path, "a/b/c", "d", "e")
    assert count_folders(root) == 6
    watcher = LocationWatcher(
        [WatchedLocation(A, root)], max_user_watches=2, backoff=Backoff(0.05, 0.2)
    )
    run = await started(nursery, watcher)
    waits = []
    for _ in range(5):
        assert await run.next() == Changed(A, (), True)
        waits.append(watcher.status()[A.hex()]["next_rescan_s"])
    assert waits == [0.05, 0.1, 0.2, 0.2, 0.2]
    status = watcher.status()[A.hex()]
    assert (status["mode"], status["watches_needed"], status["watches_allowed"]) == (
        "periodic",
        6,
        2,
    )
    assert "needs 6 inotify watches" in status["reason"] and "2 are allowed" in status["reason"]
    # Changes are not watched for: they wait for the next periodic rescan.
    (tmp_path / "d" / "new.txt").write_bytes(b"x")
    assert await run.next() == Changed(A, (), True)


async def test_locations_share_the_watches_allowed(nursery: trio.Nursery, tmp_path: Path) -> None:
    first = folders(tmp_path / "first", "x", "y")  # 3 watches
    second = folders(tmp_path / "second", "x", "y")
    watcher = LocationWatcher(
        [WatchedLocation(A, first), WatchedLocation(B, second)],
        max_user_watches=5,
        backoff=Backoff(60, 60),
    )
    run = await started(nursery, watcher)
    batches = [await run.next(), await run.next()]
    assert sorted(b.location for b in batches) == [A, B]
    modes = {key: s["mode"] for key, s in watcher.status().items()}
    assert sorted(modes.values()) == ["periodic", "watching"]
    [periodic] = [s for s in watcher.status().values() if s["mode"] == "periodic"]
    assert "3 of them taken by other locations" in periodic["reason"]
    # The one watched is the one whose changes come out.
    watched = A if modes[A.hex()] == "watching" else B
    folder = first if watched == A else second
    (Path(os.fsdecode(folder)) / "x" / "new.txt").write_bytes(b"x")
    assert await run.next() == Changed(watched, (folder + b"/x",))


async def test_a_location_whose_folder_is_missing_is_tried_again(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    missing = os.fsencode(tmp_path / "gone")
    watcher = LocationWatcher([WatchedLocation(A, missing)], backoff=Backoff(0.05, 0.05))
    run = await started(nursery, watcher)
    assert await run.next() == Changed(A, (), True)
    status = watcher.status()[A.hex()]
    assert status["mode"] == "periodic" and "watching failed" in status["reason"]
    # Back (a volume mounted again): periodic rescans until it is watched again.
    (tmp_path / "gone" / "sub").mkdir(parents=True)
    while True:
        assert await run.next() == Changed(A, (), True)
        status = watcher.status()[A.hex()]
        if status["mode"] == "watching" and status["reason"] is None:
            break
    (tmp_path / "gone" / "sub" / "f.txt").write_bytes(b"x")
    batch = await run.next()
    while batch.whole:  # the one asked for as the watch began, if it was not merged
        batch = await run.next()
    assert batch == Changed(A, (missing + b"/sub",))


async def test_locations_come_and_go_while_it_runs(nursery: trio.Nursery, tmp_path: Path) -> None:
    first = folders(tmp_path / "first", "x")
    second = folders(tmp_path / "second", "y")
    watcher = LocationWatcher([WatchedLocation(A, first)])
    run = await started(nursery, watcher)
    await run.watching(A)
    watcher.add(WatchedLocation(B, second))
    await run.watching(B)
    watcher.remove(A)
    assert list(watcher.status()) == [B.hex()]
    (tmp_path / "first" / "x" / "f").write_bytes(b"x")
    (tmp_path / "second" / "y" / "f").write_bytes(b"x")
    assert await run.next() == Changed(B, (second + b"/y",))
    await run.nothing_more()


async def test_a_watched_folder_that_goes_away_is_rescanned_and_watched_again(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    root = folders(tmp_path / "vol", "sub")
    watcher = LocationWatcher([WatchedLocation(A, root)], backoff=Backoff(0.2, 0.2))
    run = await started(nursery, watcher)
    await run.watching(A)
    (tmp_path / "vol").rename(tmp_path / "elsewhere")
    # Whatever the rename itself reported, a whole rescan follows and the watch is given up.
    while not (await run.next()).whole:
        pass
    assert watcher.status()[A.hex()]["mode"] == "periodic"
    (tmp_path / "elsewhere").rename(tmp_path / "vol")
    while True:
        assert (await run.next()).whole
        if watcher.status()[A.hex()]["mode"] == "watching":
            break
