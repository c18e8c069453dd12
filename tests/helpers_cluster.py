"""Several devices on one machine: data directories whose nodes listen on 127.0.0.1 only,
started as real ``sd node run`` processes, paired with the real ``sd pair`` commands."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sdactors.runtime.config import NetworkConfig, init_node_config
from sdactors.runtime.paths import DataDir
from tests.conftest import SD, Sd
from tests.system.test_node import until


def device(tmp_path: Path, name: str, bind: str = "127.0.0.1:0") -> Sd:
    """A data directory for device ``name`` whose node binds loopback only (or ``bind``: an
    address in a network namespace the test made)."""
    root = tmp_path / name
    init_node_config(DataDir(root), name, NetworkConfig(bind=bind))
    sd = Sd(root)
    sd.env["SD_NETWORK_BIND"] = bind
    return sd


class Peer:
    """One ``sd node run`` on a device's data directory (run by ``prefix``, if given: say, in
    a network namespace)."""

    def __init__(
        self,
        sd: Sd,
        log: Path,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.sd = sd
        self.log = log
        self.env = {**sd.env, **(env or {})}
        self.prefix = list(prefix)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Peer:
        self.launch()
        until(self._serving, 60, f"node of {self.sd.data_dir.name} serving")
        return self

    def launch(self) -> Peer:
        """Start the process, not waiting: many nodes start at once, then each is waited for."""
        self.proc = subprocess.Popen(
            [*self.prefix, *SD, "node", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - the child holds it
        )
        return self

    def _serving(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.tail()
        status = self.sd.run("--json", "node", "status", check=False)
        if status.code != 0:
            return False
        body = status.json()
        return bool(body["network"]["addresses"]) and all(
            lib["state"] != "opening" for lib in body["libraries"]
        )

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""

    def stop(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=30)
        if signum != signal.SIGKILL:
            assert code == 0, self.tail()

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def status(self) -> dict[str, Any]:
        return self.sd.json("node", "status")

    def log_records(self, event: str) -> list[dict[str, Any]]:
        import json

        node_log = self.sd.data_dir / "logs" / "node.log"
        lines = node_log.read_text().splitlines() if node_log.exists() else []
        return [r for r in map(json.loads, lines) if r.get("event") == event]


@contextmanager
def running(*peers: Peer) -> Iterator[tuple[Peer, ...]]:
    with ExitStack() as stack:
        for peer in peers:
            stack.callback(peer.kill_if_running)
        for peer in peers:
            peer.start()
        yield peers


def pair(inviter: Sd, joiner: Sd, *extra: str) -> dict[str, Any]:
    ticket = inviter.json("pair", "invite", *extra)["ticket"]
    return joiner.json("pair", "join", ticket)


def digest(sd: Sd) -> str:
    return sd.json("projections", "digest")["digest"]


def in_sync(*devices: Sd) -> bool:
    return len({digest(d) for d in devices}) == 1
