"""First impressions: Ctrl-C (SIGINT to the terminal's whole process group) or SIGTERM to
every process of the node (what systemd sends) ends the node and every child with no
traceback, and ``-v`` shows the node's own records, not the actor library's internals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SD, Sd
from tests.helpers_tree import TreeCache
from tests.system.test_node import until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_whole_process_group_prints_no_traceback(
    sd: Sd, tmp_path: Path, signum: int, trees: TreeCache
) -> None:
    trees.copy(tmp_path / "tree", 3000, fanout=(6, 6))
    sd.run("library", "create", "Home")
    node = subprocess.Popen(
        [*SD, "node", "run", "-v"],
        env=sd.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )
    try:
        until(lambda: sd.run("node", "status", check=False).code == 0, 60, "node serving")
        # Indexing starts the worker processes and the watcher's child: they get it too.
        sd.run("location", "add", str(tmp_path / "tree"))
        time.sleep(0.5)
        os.killpg(node.pid, signum)
        out, err = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
    text = err.decode(errors="replace")
    assert node.returncode == 0, text[-3000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
    assert "urn:uuid" not in text, "the actor library's internals are shown"
    assert '"node_stopped"' in text or "node_stopped" in text
