"""``sd agent ask`` through a running node (``sd node run`` on 127.0.0.1): the node talks to
the scripted provider, with the key from its own environment, and a second device sees the
proposal, accepts it, and the device owning the files runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_agent_ask import REQUEST, filer, home
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.llm_server import configure, serve

pytestmark = pytest.mark.slow

WITHIN_S = 30.0
KEY = "sk-node-secret-9090"


def test_asked_through_a_node_accepted_on_another_device(tmp_path: Path) -> None:
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    root = home(tmp_path)
    docs = root / "Documents/Taxes/2023"
    a.json("library", "create", "Home")
    with serve(filer) as llm:
        configure(a, llm.url, api_key_env="SD_TEST_NODE_LLM_KEY")
        # The key is in the node's environment (its service's), not the command's.
        pa = Peer(a, tmp_path / "ash.log", env={"SD_TEST_NODE_LLM_KEY": KEY})
        pb = Peer(b, tmp_path / "birch.log")
        with running(pa, pb):
            pair(a, b)
            a.json("location", "add", str(root))
            a.json("agent", "grant", "ask", "--location", str(root))
            found = a.json("agent", "ask", REQUEST)
            assert len(found["items"]) == 2
            assert {r.headers["authorization"] for r in llm.requests} == {f"Bearer {KEY}"}
            until(lambda: in_sync(a, b), WITHIN_S, "birch has ash's proposal")
            [seen] = b.json("agent", "proposals")
            assert seen["id"] == found["proposal"] and seen["agent"] == "ask"
            b.json("agent", "accept", seen["id"])
            until(lambda: len(list(docs.iterdir())) == 2, WITHIN_S, "ash ran the moves")
            until(
                lambda: b.json("agent", "proposals", "--all")[0]["outcomes"] is not None,
                WITHIN_S,
                "birch sees the outcome",
            )
            [shown] = b.json("agent", "proposals", "--all")
            assert [o["ok"] for o in shown["outcomes"]] == [True, True]
    for data in (a.data_dir, b.data_dir, tmp_path / "ash.log"):
        files = [data] if data.is_file() else [p for p in data.rglob("*") if p.is_file()]
        for path in files:
            assert KEY.encode() not in path.read_bytes(), path
