"""Shared fixtures: a private data directory, the real ``sd`` command (in process where nothing
needs a process of its own), big trees made once per session, hypothesis's profiles."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import settings

from sdactors.ops.base import CHECK_RESULTS_ENV
from sdactors.runtime.tuning import BACKOFF_SCALE_ENV
from tests.helpers_tree import TreeCache

SD = [sys.executable, "-m", "sdactors"]

# Where the environment asks Rust for backtraces (RUST_BACKTRACE=1), every error iroh's
# binding makes captures one first: a refused signature costs milliseconds instead of
# microseconds (tests/unit/test_keys.py: 5 s instead of 0.4 s). Nothing the suite checks
# reads a backtrace; a panic still prints its message. Set before any Rust reads it (Rust
# reads it once per process), for this process and every sd and node it starts.
os.environ["RUST_BACKTRACE"] = "0"

# Hypothesis profiles. ``full`` (the default, what ./run-tests and CI run) keeps every test's
# own example count; ``quick`` (./run-tests --quick sets SD_HYPOTHESIS_PROFILE) caps it, for the
# inner loop. A test states its count as ``max_examples=examples(N)``: an explicit count
# overrides any profile, so the cap has to be applied where the count is given.
PROFILE = os.environ.get("SD_HYPOTHESIS_PROFILE", "full")
QUICK_EXAMPLES = 10
settings.register_profile("full")
settings.register_profile("quick", max_examples=QUICK_EXAMPLES)
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """A test's own example count under ``full``, at most ``QUICK_EXAMPLES`` under ``quick``."""
    return min(count, QUICK_EXAMPLES) if PROFILE == "quick" else count


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


# What must run as a separate process whatever else holds: a node (it serves until stopped).
_OWN_PROCESS = (("node", "run"),)
DEFAULT_TIMEOUT = 120.0
BACKOFF_SCALE = "0.1"
_IN_PROCESS = threading.Lock()


def _command_words(args: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(a for a in args if not a.startswith("-"))


class Sd:
    """Runs ``sd`` as a user would: its own data directory, its output and exit status.

    A call that needs nothing a separate process gives runs in this process instead (the
    same entry point, ``sdactors.cli.main.run``, with its own streams and environment), which
    saves the interpreter's start. Anything that may depend on the process keeps one: an
    environment that differs from the default one (``sd.env`` changed by the test, or the
    test's own variables), input on stdin, a timeout of its own (the test guards a hang),
    ``node run``, and ``popen`` always. ``in_process = False`` turns it off for one helper,
    ``SD_TEST_IN_PROCESS=0`` for the run.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = self.default_env()
        # SD_TEST_IN_PROCESS=0: every call a process, as before (to tell the two apart).
        self.in_process = os.environ.get("SD_TEST_IN_PROCESS", "1") != "0"

    def default_env(self) -> dict[str, str]:
        # Every node a test starts listens on loopback only, and retries after a tenth of its
        # real backoffs (a peer or a watch that failed): no test waits through a real one.
        env = {
            **os.environ,
            "SD_DATA_DIR": str(self.data_dir),
            "SD_NETWORK_BIND": "127.0.0.1:0",
            # Its HTTP server on a port the system picks: tests run side by side.
            "SD_HTTP_PORT": "0",
            BACKOFF_SCALE_ENV: BACKOFF_SCALE,
            # Every answer of every command, in the CLI or in a node, is held to the shape
            # its command declares (``sdactors.ops.base.checked_result``).
            CHECK_RESULTS_ENV: "1",
        }
        env.pop("SD_DEBUG", None)
        # pytest names the running test and its phase here ("... (setup)", "... (call)"): it
        # changes between the fixture that made this helper and the test's calls, and would
        # make every call look like one in an environment of the test's own.
        env.pop("PYTEST_CURRENT_TEST", None)
        return env

    def _may_run_in_process(self, args: tuple[str, ...], timeout: float, input: str | None) -> bool:
        words = _command_words(args)
        return (
            self.in_process
            and input is None
            and timeout == DEFAULT_TIMEOUT
            and not any(words[: len(own)] == own for own in _OWN_PROCESS)
            and self.env == self.default_env()
        )

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
    ) -> Result:
        if self._may_run_in_process(args, timeout, input):
            result = self._run_here(args)
        else:
            proc = subprocess.run(
                [*SD, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
            )
            result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and result.code != 0:
            raise AssertionError(
                f"sd {' '.join(args)} exited {result.code}\nstdout: {result.out}\n"
                f"stderr: {result.err}"
            )
        return result

    def _run_here(self, args: tuple[str, ...]) -> Result:
        """``sd`` in this process, seeing what the process would: this environment, an empty
        stdin, and UTF-8 streams that refuse what cannot be encoded, as a pipe's would."""
        from sdactors.cli.main import run
        from sdactors.replay.snapshots import close_looks

        with _IN_PROCESS, _environment(self.env), _logging_kept():
            out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
            err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
            saved = sys.stdin, sys.stdout, sys.stderr
            sys.stdin, sys.stdout, sys.stderr = io.StringIO(), out, err
            try:
                code = run(list(args))
            finally:
                sys.stdin, sys.stdout, sys.stderr = saved
                # As the command's own process would at its end: no snapshot left locked.
                close_looks()
            return Result(code, _text(out), _text(err))

    def json(self, *args: str) -> Any:
        return self.run("--json", *args).json()

    def json_lines(self, *args: str) -> list[Any]:
        return self.run("--json", *args).json_lines()

    def fails(self, *args: str) -> Result:
        result = self.run(*args, check=False)
        assert result.code == 1, f"expected exit 1, got {result.code}: {result.err}"
        return result

    def index_digests(self) -> dict[str, str]:
        """The digest of each read model of the index proper: not of the audit trail, the jobs
        and the entries' histories, which grow with every command and every event (and differ
        between two ways to the same index)."""
        each = self.json("projections", "digest")["read_models"]
        return {k: v for k, v in each.items() if k not in ("actions", "jobs", "history")}

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen([*SD, *args], env=self.env, **kwargs)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw: io.BytesIO = stream.buffer  # type: ignore[assignment]
    # As subprocess.run(text=True) reads a pipe: universal newlines.
    return raw.getvalue().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _logging_kept() -> Iterator[None]:
    """The command sets up logging for its process (root handlers, levels): put pytest's back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    pykka = logging.getLogger("pykka")
    pykka_level = pykka.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        pykka.setLevel(pykka_level)


@pytest.fixture(scope="session")
def trees(tmp_path_factory: pytest.TempPathFactory) -> TreeCache:
    """Big trees, made once per session and copied (``tests.helpers_tree.TreeCache``)."""
    return TreeCache(tmp_path_factory.mktemp("trees"))


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
