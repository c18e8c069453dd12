"""Shared fixtures: a private data directory and the real ``sd`` command run as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from sdactors.ops.base import CHECK_RESULTS_ENV

SD = [sys.executable, "-m", "sdactors"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


class Sd:
    """Runs ``sd`` as a user would: a separate process, its own data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # Every node a test starts listens on loopback only.
        self.env = {**os.environ, "SD_DATA_DIR": str(data_dir), "SD_NETWORK_BIND": "127.0.0.1:0"}
        # Every answer of every command, in the CLI or in a node, is held to the shape its
        # command declares (``sdactors.ops.base.checked_result``).
        self.env[CHECK_RESULTS_ENV] = "1"
        self.env.pop("SD_DEBUG", None)

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> Result:
        proc = subprocess.run(
            [*SD, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"sd {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\n"
                f"stderr: {proc.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return self.run("--json", *args).json()

    def json_lines(self, *args: str) -> list[Any]:
        return self.run("--json", *args).json_lines()

    def fails(self, *args: str) -> Result:
        result = self.run(*args, check=False)
        assert result.code == 1, f"expected exit 1, got {result.code}: {result.err}"
        return result

    def index_digests(self) -> dict[str, str]:
        """The digest of each read model of the index proper: not of the audit trail and the
        jobs, which grow with every command (and differ between two ways to the same index)."""
        each = self.json("projections", "digest")["read_models"]
        return {k: v for k, v in each.items() if k not in ("actions", "jobs")}

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen([*SD, *args], env=self.env, **kwargs)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sd(data_dir: Path) -> Sd:
    return Sd(data_dir)


def mount_tmpfs(where: Path, size: str = "8m") -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")


def bind_mount(what: Path, where: Path) -> None:
    """``what`` seen again at ``where`` (the same files: same device, same inodes)."""
    done = subprocess.run(
        ["mount", "--bind", str(what), str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"bind mounts are not permitted here: {done.stderr.strip()}")


def unmount(where: Path) -> None:
    subprocess.run(["umount", str(where)], check=True, capture_output=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A folder with a tmpfs mounted on it: another volume (skipped where mounting is not
    permitted)."""
    where = tmp_path / "disk"
    where.mkdir()
    mount_tmpfs(where)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)
