"""Thumbnails across devices: a device asks the device holding a file for its thumbnail over
iroh (``sd/thumb/1``), keeps it in a cache bounded by node.toml, answers from the cache
while that device is away, and says in one line when it cannot be reached. Real ``sd node
run`` processes on 127.0.0.1; the stranger is ``tests/hostile_sync.py``.

The holding device's media job makes a real photo's thumbnails, which the other device asks
for with ``sd thumb PATH --json`` as a user would. The cases a job never makes (a thumbnail
too large to send, sizes of the test's choosing to fill the cache) are files that are no
pictures, so the job leaves them alone, with WebP files put where the job would put them
(at ``thumbnail_path`` of each file's content id); :func:`thumb` asks for those through the
op behind ``sd thumb`` (``thumb.fetch``), as the CLI calls every op.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from events.keys import DeviceKey
from sdactors.cli.context import CliContext
from sdactors.indexer.content import content_id_of_bytes
from sdactors.media.layout import thumbnail_path
from sdactors.net.thumbs.wire import WEBP_MOST, ask_frame
from sdactors.runtime.errors import SdError
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, pair, running, until
from tests.hostile_sync import thumb_ask

pytestmark = pytest.mark.slow

CACHE_MB = 1
PHOTOS = 10


def thumb(sd: Sd, path: Path, size: int) -> dict[str, Any]:
    """What ``sd thumb PATH --size SIZE`` answers (see the module's text)."""
    ctx = CliContext(sd.data_dir, as_json=True)
    return ctx.call("thumb.fetch", None, path=os.fsencode(path), size=size, library=None)


def thumb_fails(sd: Sd, path: Path, size: int) -> str:
    """The one line ``sd thumb`` fails with."""
    try:
        got = thumb(sd, path, size)
    except SdError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        return message
    raise AssertionError(f"a thumbnail of {path} at {size}: {got}")


def noise_webp(path: Path, pixels: int, seed: int) -> bytes:
    """A real WebP that does not compress (random pixels): about 200 kB at 512 px."""
    noise = random.Random(seed).randbytes(pixels * pixels * 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", (pixels, pixels), noise).save(path, "WEBP", quality=85)
    return path.read_bytes()


def cached(sd: Sd) -> dict[str, int]:
    """The thumbnails in the device's cache: name, size."""
    found = {}
    for folder, _dirs, names in os.walk(sd.data_dir / "cache" / "thumbnails"):
        for name in names:
            found[name] = os.path.getsize(os.path.join(folder, name))
    return found


def test_a_thumbnail_comes_from_the_device_holding_the_file_into_a_bounded_cache(
    tmp_path: Path,
) -> None:
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    with (b.data_dir / "node.toml").open("a") as toml:
        toml.write(f"\n[thumbnails]\ncache_mb = {CACHE_MB}\n")
    a.json("library", "create", "Home")
    photos = tmp_path / "photos"
    photos.mkdir()
    # No pictures (the media job passes them by): thumbnails of the test's own are put there.
    paths = [photos / f"p{i}.bin" for i in range(PHOTOS)]
    for i, path in enumerate(paths):
        path.write_bytes(random.Random(i).randbytes(500))
    cids = [content_id_of_bytes(path.read_bytes()) for path in paths]
    # A real photo: ash's media job makes its thumbnails.
    real = photos / "real.jpg"
    Image.new("RGB", (1600, 1200), (30, 120, 200)).save(real, "JPEG")
    pa, pb = Peer(a, tmp_path / "ash.log"), Peer(b, tmp_path / "birch.log")
    with running(pa, pb):
        pair(a, b)
        a.json("location", "add", str(photos))
        listed = {e["name"]: e["content_id"] for e in a.json("ls", str(photos))}
        assert all(listed[p.name] == cid.hex()[:16] for p, cid in zip(paths, cids))
        info = a.json("library", "info")
        library = bytes.fromhex(info["id"])
        # Where ash's media job puts them: p0..p6 have one at 512 px, p0 at 256 px too, p8
        # one too large to send, p9 none.
        root = Path(info["path"]) / "thumbnails"
        placed = {
            (i, 512): noise_webp(thumbnail_path(root, cids[i], 512), 512, i) for i in range(7)
        }
        placed[0, 256] = noise_webp(thumbnail_path(root, cids[0], 256), 256, 100)
        placed[2, 256] = noise_webp(thumbnail_path(root, cids[2], 256), 256, 102)
        too_large = thumbnail_path(root, cids[8], 256)
        too_large.parent.mkdir(parents=True, exist_ok=True)
        too_large.write_bytes(b"RIFF\0\0\0\0WEBP" + bytes(WEBP_MOST))

        def seen() -> bool:
            return b.run("ls", str(photos), check=False).code == 0

        until(seen, 30, "birch sees ash's photos")
        assert len(b.json("ls", str(photos))) == PHOTOS + 1

        # The photo's thumbnail, made by ash's job, fetched by birch as a user asks for it.
        def made() -> bool:
            return [(s["done"], s["pending"]) for s in a.json("thumbs", "status")] == [(1, 0)]

        until(made, 60, "ash's media job made the photo's thumbnails")
        mine = a.json("thumb", str(real), "--size", "512")
        assert mine["source"] == "library"
        fetched = b.json("thumb", str(real), "--size", "512")
        assert (fetched["source"], fetched["device_name"]) == ("network", "ash")
        assert Path(fetched["path"]).read_bytes() == Path(mine["path"]).read_bytes()
        with Image.open(fetched["path"]) as picture:
            assert (picture.format, picture.size) == ("WEBP", (512, 384))

        # Asked of ash, byte for byte; none there, or too large, is said so.
        got = thumb(b, paths[3], 512)
        assert (got["source"], got["device_name"], got["size"]) == ("network", "ash", 512)
        assert Path(got["path"]).read_bytes() == placed[3, 512]
        assert Path(got["path"]).is_relative_to(b.data_dir / "cache")
        assert "ash has no 256 px thumbnail" in thumb_fails(b, paths[9], 256)
        assert "ash refused: that thumbnail is larger than 2 MiB" in thumb_fails(b, paths[8], 256)

        # A device of no library here is refused; an ask out of the protocol is hung up on.
        network = a.json("node", "status")["network"]
        target, addresses = bytes.fromhex(network["device"]), network["addresses"]
        stranger = DeviceKey.generate().secret_bytes()
        refused = thumb_ask(stranger, target, addresses, ask_frame(library, cids[0], 256))
        assert refused == {
            "refused": "this device is not paired in the library",
            "code": "unauthorized",
        }
        assert pa.log_records("thumbnail_refused")
        birch = (b.data_dir / "device.key").read_bytes()
        for bad in (
            ask_frame(library, cids[0][:31], 256),
            ask_frame(library, cids[0], 300),
            {"lib": library, "cid": "../../../../device.key", "size": 256},
        ):
            assert "gone" in thumb_ask(birch, target, addresses, bad), bad

        # Bounded: 1 MiB holds five of the 512 px ones; the least recently used go first.
        for i in range(7):
            assert thumb(b, paths[i], 512)["source"] == ("cache" if i == 3 else "network")
        held = cached(b)
        assert sum(held.values()) <= CACHE_MB << 20, held
        assert f"{cids[6].hex()}_512.webp" in held
        assert f"{cids[0].hex()}_512.webp" not in held
        assert f"{cids[1].hex()}_512.webp" not in held

        # Asked twice at once: one fetch, both answered.
        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda _: thumb(b, paths[2], 256), range(2)))
        assert both[0] == both[1] and both[0]["source"] == "network"
        fetched = [r for r in pb.log_records("thumbnail_fetched") if r["size"] == 256]
        assert len(fetched) == 1, fetched

        # Fetched twice: the second time from the cache, also with ash gone.
        first = thumb(b, paths[0], 256)
        assert first["source"] == "network"
        pa.stop()
        again = thumb(b, paths[0], 256)
        assert (again["source"], again["path"]) == ("cache", first["path"])
        assert Path(again["path"]).read_bytes() == placed[0, 256]

        # Not in the cache, ash gone: said so, after a short wait.
        started = time.monotonic()
        gone = thumb_fails(b, paths[1], 512)
        assert gone.startswith("the device holding it (ash) is not reachable"), gone
        assert time.monotonic() - started < 10

        # No node on birch: its cache still answers; fetching needs the node.
        pb.stop()
        assert thumb(b, paths[0], 256)["source"] == "cache"
        assert "needs the node's network endpoint" in thumb_fails(b, paths[1], 512)

        # Revoked: ash refuses birch from then on.
        pa.start()
        pb.start()
        assert a.json("device", "revoke", "birch")["revoked"] is True
        revoked = thumb_fails(b, paths[1], 512)
        assert "ash refused: this device was revoked in the library" in revoked, revoked
