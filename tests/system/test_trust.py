"""Who may pair, revoke and grant roles, and revocations that cut cleanly: real nodes on
127.0.0.1, devices acting as an admin, a member, a hostile member, and a revoked device that
does not know it yet."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from events.domain import CATALOG
from events.domain.device import DevicePaired, DeviceRevoked, DeviceRole
from events.keys import DeviceKey
from events.writer import Draft
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.helpers_log import next_events
from tests.hostile_sync import offer

pytestmark = pytest.mark.slow

SYNCED_S = 40


def _info(sd: Sd) -> tuple[bytes, list[str], bytes, Path]:
    network = sd.json("node", "status")["network"]
    library = sd.json("library", "info")
    return (
        bytes.fromhex(network["device"]),
        network["addresses"],
        bytes.fromhex(library["id"]),
        Path(library["path"]),
    )


def _roles(sd: Sd) -> dict[str, str | None]:
    return {d["name"]: d["role"] for d in sd.json("device", "list")}


def _signed_as(sd: Sd, drafts: list[Draft]) -> list:
    """``sd``'s device's next events (its node stopped), signed with its own key: what a
    device that bypasses its own checks would write."""
    library = sd.json("library", "info")
    return next_events(sd.data_dir, Path(library["path"]), bytes.fromhex(library["id"]), drafts)


def _tags(sd: Sd) -> set[str]:
    return {t["name"] for t in sd.json("tag", "list")}


@pytest.mark.hostile("H2")
def test_only_admins_pair_revoke_and_grant_roles(tmp_path: Path) -> None:
    a, b, c, d = (device(tmp_path, n) for n in ("ash", "birch", "cedar", "dogwood"))
    a.json("library", "create", "Home")
    pa, pb, pc, pd = (Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b, c, d))
    with running(pa, pb, pc):
        pair(a, b)
        pair(a, c)
        until(lambda: in_sync(a, b, c), SYNCED_S, "three devices in sync")
        roles = {"ash": "admin", "birch": "member", "cedar": "member"}
        assert _roles(c) == roles and _roles(a) == roles
        assert next(x for x in c.json("device", "list") if x["name"] == "ash")["creator"]

        # A member may not pair, revoke or change roles: one line each, nothing written.
        before = b.json("log", "stats")["events"]
        for args in (
            ["pair", "invite"],
            ["device", "revoke", "ash"],
            ["device", "role", "cedar", "admin"],
        ):
            err = b.fails(*args).err
            assert err.count("\n") == 1 and "only an admin of library 'Home'" in err, err
            assert "admins: ash" in err
        assert b.json("log", "stats")["events"] == before
        # The last admin can be neither demoted nor revoked, nor revoke itself.
        assert "last admin" in a.fails("device", "role", "ash", "member").err
        assert "cannot revoke itself" in a.fails("device", "revoke", "ash").err

        # Birch turns hostile: its own key signs a revocation of the creator, a pairing of a
        # key of its making, and its own promotion, sent to ash by hand.
        target, addresses, library, _path = _info(a)
        pb.stop()
        stranger = DeviceKey.generate()
        forged = _signed_as(
            b,
            [
                CATALOG.body(DeviceRevoked(target, 1)),
                CATALOG.body(DevicePaired(stranger.public, "mallory")),
                CATALOG.body(DeviceRole(bytes.fromhex(_device_id(b)), "admin")),
            ],
        )
        vector = {
            bytes.fromhex(x["device"]): x["seq"] for x in a.json("library", "info")["devices"]
        }
        sent = offer(
            DeviceKey((b.data_dir / "device.key").read_bytes()).secret_bytes(),
            target,
            addresses,
            library,
            vector,
            [{"ev": [[ev.data, ev.sig] for ev in forged], "upto": {}}],
        )
        assert "vec" in sent["answer"]
        until(lambda: a.json("log", "stats")["events"] >= before + 3, 20, "ash holds them")
        until(lambda: in_sync(a, c), SYNCED_S, "cedar has them too")
        # Held, forwarded, and ignored the same way everywhere.
        assert _roles(a) == roles and _roles(c) == roles
        verify = a.run("log", "verify", check=False)
        assert verify.code == 1
        lines = [line for line in verify.out.splitlines() if line.startswith("NOT COUNTED")]
        assert len(lines) == 3 and all("its device is not an admin" in line for line in lines)
        # ...and the key birch paired by itself is refused at the door.
        refused = offer(stranger.secret_bytes(), target, addresses, library, {})
        assert refused["answer"]["code"] == "unauthorized"

        # An admin can make birch an admin: then birch can invite.
        pb.start()
        a.json("device", "role", "birch", "admin")
        until(lambda: _roles(b).get("birch") == "admin", SYNCED_S, "birch told it is an admin")
        pd.start()  # started late, so stopped here: ``running`` stops only the first three
        try:
            joined = pair(b, d)
            assert joined["created"] is True
            until(lambda: in_sync(a, b, c, d), SYNCED_S, "four devices in sync")
            assert _roles(c)["dogwood"] == "member"
            pd.stop()
        finally:
            pd.kill_if_running()


@pytest.mark.hostile("H2")
def test_a_joiner_leaves_when_its_inviter_was_no_admin(tmp_path: Path) -> None:
    """Birch's node is compromised: its index says it is an admin (the folds say otherwise),
    so it hands out a ticket and lets dogwood pair. Dogwood syncs, folds the library's own
    membership, sees that birch was never an admin, and leaves."""
    a, b, d = (device(tmp_path, n) for n in ("ash", "birch", "dogwood"))
    a.json("library", "create", "Home")
    pa, pb, pd = (Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b, d))
    with running(pa, pb, pd):
        pair(a, b)
        until(lambda: in_sync(a, b), SYNCED_S, "birch in sync")
        pb.stop()
        path = Path(b.json("library", "info")["path"])
        db = sqlite3.connect(path / "index.db")
        db.execute("UPDATE members SET role = 'admin'")
        db.commit()
        db.close()
        pb.start()
        ticket = b.json("pair", "invite")["ticket"]
        err = d.fails("pair", "join", ticket).err
        assert err.count("\n") == 1, err
        # Birch's own folds do not count the pairing it wrote either, so it does not even
        # let dogwood sync: dogwood says so and leaves.
        assert "birch" in err and "library 'Home'" in err and "left the library" in err, err
        assert "does not count (only admins pair devices)" in err, err
        assert d.json("library", "list") == []
        # The pairing birch wrote does not count anywhere: ash refuses dogwood.
        until(lambda: in_sync(a, b), SYNCED_S, "birch's pairing reached ash")
        assert "dogwood" not in {x["name"] for x in a.json("device", "list") if x["role"]}


def _device_id(sd: Sd) -> str:
    key = DeviceKey((sd.data_dir / "device.key").read_bytes())
    return key.public.hex()


@pytest.mark.hostile("H3")
def test_a_revocation_cuts_cleanly_whatever_the_order(tmp_path: Path) -> None:
    """The issue's race: birch pauses sync with ash; ash revokes cedar; cedar, not yet told,
    makes a tag, which reaches birch; birch resumes. Then both admins of a second pair
    revoke each other while apart: the earlier revocation stands everywhere."""
    a, b, c, d = (device(tmp_path, n) for n in ("ash", "birch", "cedar", "dogwood"))
    a.json("library", "create", "Home")
    pa, pb, pc, pd = (Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b, c, d))
    with running(pa, pb, pc, pd):
        pair(a, b)
        pair(a, c)
        pair(a, d)
        until(lambda: in_sync(a, b, c, d), SYNCED_S, "four devices in sync")
        b.json("sync", "pause", "ash")
        d.json("sync", "pause")
        c.json("sync", "pause", "ash")

        def apart() -> bool:
            return not any(s["connected"] for s in a.json("sync", "status"))

        until(apart, 30, "ash connected to nobody")
        revoked = a.json("device", "revoke", "cedar")
        cut = revoked["kept_upto"]
        c.json("tag", "create", "after-the-cut")
        until(lambda: "after-the-cut" in _tags(b), SYNCED_S, "birch got cedar's tag")
        b.json("sync", "resume", "ash")
        until(lambda: in_sync(a, b), SYNCED_S, "ash and birch agree")
        # The tag made after the cut is held (it came through birch) but counts nowhere.
        assert "after-the-cut" not in _tags(a) | _tags(b)
        held = {x["device"]: x["seq"] for x in a.json("library", "info")["devices"]}
        assert held[_device_id(c)] > cut
        verify = a.run("log", "verify", check=False)
        assert f"HELD PAST CUT {_device_id(c)[:10]} #{cut + 1}" in verify.out
        assert verify.code == 0, verify.out
        # Birch refuses cedar from now on, and forwards it nothing.
        c.json("sync", "resume", "ash")

        def cedar_refused() -> bool:
            rows = [r for sd in (a, b) for r in sd.json("sync", "status") if r["name"] == "cedar"]
            return len(rows) == 2 and all(
                not r["connected"] and "revoked" in (r["reason"] or "") for r in rows
            )

        until(cedar_refused, SYNCED_S, "cedar refused by both")
        assert _roles(a)["cedar"] == _roles(b)["cedar"] == "revoked"

        # Two admins revoke each other while apart: ash first, then birch. Dogwood, which
        # hears of both, refuses birch, and birch's revocation counts nowhere.
        a.json("device", "role", "birch", "admin")
        until(lambda: _roles(b)["birch"] == "admin", SYNCED_S, "birch is an admin")
        a.json("sync", "pause", "birch")
        b.json("sync", "pause", "ash")
        a.json("device", "revoke", "birch")
        b.json("device", "revoke", "ash")
        assert _roles(b)["ash"] == "revoked"  # as far as birch knows yet
        d.json("sync", "resume")
        a.json("sync", "resume")
        b.json("sync", "resume")
        until(lambda: in_sync(a, d), SYNCED_S, "ash and dogwood agree")
        assert _roles(d)["birch"] == _roles(a)["birch"] == "revoked"
        assert _roles(d)["ash"] == _roles(a)["ash"] == "admin"
        notes = [ln for ln in d.run("log", "verify", check=False).out.splitlines()]
        assert any(
            "device.revoked" in ln and "after its device's revocation was cut" in ln for ln in notes
        ), notes

        def birch_refused() -> bool:
            rows = b.json("sync", "status")
            return all(not r["connected"] for r in rows if r["name"] in ("ash", "dogwood"))

        until(birch_refused, SYNCED_S, "birch refused")


@pytest.mark.hostile("H3")
def test_a_member_that_hears_the_later_revocation_first_still_settles(tmp_path: Path) -> None:
    """Two admins revoke each other while apart, ash first. Dogwood, away meanwhile, hears
    birch (and so birch's revocation of ash) before ash: ash's earlier revocation of birch,
    which only ash holds, must still reach it and stand. Until it has, ash is heard by
    dogwood, and sent nothing."""
    a, b, d = (device(tmp_path, n) for n in ("ash", "birch", "dogwood"))
    a.json("library", "create", "Home")
    pa, pb, pd = (Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b, d))
    with running(pa, pb, pd):
        pair(a, b)
        pair(a, d)
        a.json("device", "role", "birch", "admin")
        until(lambda: in_sync(a, b, d), SYNCED_S, "three devices in sync")
        assert _roles(d)["birch"] == "admin"
        d.json("sync", "pause")
        a.json("sync", "pause", "birch")
        b.json("sync", "pause", "ash")
        until(
            lambda: not any(s["connected"] for s in a.json("sync", "status")),
            30,
            "ash connected to nobody",
        )
        a.json("device", "revoke", "birch")
        b.json("device", "revoke", "ash")
        pa.stop()
        d.json("sync", "resume")
        until(lambda: _roles(d)["ash"] == "revoked", SYNCED_S, "dogwood heard birch first")

        # Ash may hold what undoes that, so dogwood still takes what it sends; but dialing
        # as ash, claiming to hold nothing, gets dogwood's vector and not one event.
        target, addresses, library, _path = _info(d)
        ash_key = DeviceKey((a.data_dir / "device.key").read_bytes()).secret_bytes()
        with ThreadPoolExecutor(1) as pool:
            dialing = pool.submit(offer, ash_key, target, addresses, library, {}, (), 6)

            def told() -> bool:
                row = next(r for r in d.json("sync", "status") if r["name"] == "ash")
                return row["connected"] and "sending it nothing" in (row["reason"] or "")

            until(told, 10, "dogwood says it hears ash, and sends it nothing")
            heard = dialing.result()
        assert heard["answer"].get("revoked") is True and "vec" in heard["answer"], heard
        assert not [f for f in heard["received"] if "ev" in f], heard["received"]

        pa.start()
        until(lambda: in_sync(a, d), SYNCED_S, "ash and dogwood agree")
        assert _roles(d)["birch"] == _roles(a)["birch"] == "revoked"
        assert _roles(d)["ash"] == _roles(a)["ash"] == "admin"

        # Dogwood holds birch's revocation of ash, dated after ash's of birch: nothing birch
        # holds can undo that, so dogwood refuses it for good.
        def birch_refused() -> bool:
            row = next(r for r in d.json("sync", "status") if r["name"] == "birch")
            return not row["connected"] and row["reason"] == "revoked"

        until(birch_refused, SYNCED_S, "dogwood refuses birch")
