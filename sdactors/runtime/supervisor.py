"""Restarts crashed actors. pykka has no supervision, so this is the small one the node needs.

An actor that raises while handling a message sent with ``tell`` (or while starting) stops.
Every supervised actor reports that to its supervisor, which logs it (an operational record:
the node's logs, never a library's event log), keeps it in its history for ``sd node status``,
and starts a fresh instance from the same factory after a backoff that doubles with each
crash in a row. A child that keeps crashing (``max_restarts`` within ``window_s``) is given
up on rather than restarted forever; asking for it then raises :class:`ActorFailed`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

import pykka

from sdactors.runtime.errors import ActorFailed
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Reply, fast_inbox

log = get_logger(__name__)

CrashHook = Callable[[BaseException], None]
Factory = Callable[[CrashHook], pykka.ActorRef]
# The first restart waits this long; each crash within the window doubles it, up to the cap.
BACKOFF_S = 0.05
BACKOFF_MAX_S = 5.0


class SupervisedActor(pykka.ThreadingActor):
    """Base of every actor of the node: reports crashes instead of dying silently."""

    def __init__(self, on_crash: CrashHook | None = None) -> None:
        super().__init__()
        self._on_crash = on_crash

    @staticmethod
    def _create_actor_inbox() -> Any:
        return fast_inbox()

    @staticmethod
    def _create_future() -> Reply:
        return Reply()

    def on_start(self) -> None:
        try:
            self.started()
        except BaseException as exc:
            self._report(exc)
            raise

    def started(self) -> None:
        """Start-up work (opening files); an exception here counts as a crash."""

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.crashed(exception_value)
        self._report(exception_value)

    def crashed(self, error: BaseException) -> None:
        """Clean-up before a restart: fail the replies this actor still owes."""

    def _report(self, error: BaseException) -> None:
        if self._on_crash is not None:
            self._on_crash(error)


class Supervisor:
    """Owns a set of named actors. Thread-safe: crashes are reported from actor threads."""

    def __init__(
        self,
        name: str,
        *,
        max_restarts: int = 5,
        window_s: float = 60.0,
    ) -> None:
        self.name = name
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._history: deque[dict[str, Any]] = deque(maxlen=100)
        self._lock = threading.RLock()
        self._factories: dict[str, Factory] = {}
        self._refs: dict[str, pykka.ActorRef] = {}
        self._crashes: dict[str, deque[float]] = {}
        self._given_up: dict[str, str] = {}
        self._restarts: dict[str, int] = {}
        self._stopping = False

    def start(self, name: str, factory: Factory) -> pykka.ActorRef:
        with self._lock:
            self._factories[name] = factory
            ref = factory(self._hook(name))
            self._refs[name] = ref
            return ref

    def ref(self, name: str) -> pykka.ActorRef:
        with self._lock:
            if name in self._given_up:
                raise ActorFailed(f"{name} stopped after repeated failures: {self._given_up[name]}")
            return self._refs[name]

    def live_ref(self, name: str, wait: float = BACKOFF_MAX_S * 2) -> pykka.ActorRef:
        """The child's ref, waiting through a restart's backoff (a crashed child is briefly
        dead before its new instance starts): callers see a short delay, not an error."""
        deadline = time.monotonic() + wait
        while True:
            ref = self.ref(name)
            if ref.is_alive() or time.monotonic() >= deadline:
                return ref
            time.sleep(0.01)

    def restarts(self, name: str) -> int:
        with self._lock:
            return self._restarts.get(name, 0)

    def history(self) -> list[dict[str, Any]]:
        """The crashes seen, oldest first: actor, error, restarts, when (epoch seconds)."""
        with self._lock:
            return list(self._history)

    def failed(self) -> dict[str, str]:
        """The children given up on, with their last error."""
        with self._lock:
            return dict(self._given_up)

    def _hook(self, name: str) -> CrashHook:
        def on_crash(error: BaseException) -> None:
            self._crashed(name, error)

        return on_crash

    def _crashed(self, name: str, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        with self._lock:
            if self._stopping:
                return
            now = time.monotonic()
            recent = self._crashes.setdefault(name, deque())
            recent.append(now)
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) > self.max_restarts:
                self._given_up[name] = message
                log.error("actor_given_up", supervisor=self.name, actor=name, error=message)
                return
            count = self._restarts.get(name, 0) + 1
            self._restarts[name] = count
            self._history.append(
                {"actor": name, "error": message, "restarts": count, "at": time.time()}
            )
            log.error(
                "actor_crashed", supervisor=self.name, actor=name, error=message, restarts=count
            )
            delay = min(BACKOFF_S * 2 ** (len(recent) - 1), BACKOFF_MAX_S)
        timer = threading.Timer(delay, self._restart, args=(name,))
        timer.daemon = True
        timer.start()

    def _restart(self, name: str) -> None:
        with self._lock:
            if self._stopping or name in self._given_up:
                return
            self._refs[name] = self._factories[name](self._hook(name))

    def stop_all(self, order: list[str] | None = None, timeout: float = 10.0) -> None:
        """Stop children, in ``order`` first (dependents before what they depend on)."""
        with self._lock:
            self._stopping = True
            names = list(order or []) + [n for n in self._refs if n not in (order or [])]
            refs = [(n, self._refs[n]) for n in names if n in self._refs]
        for name, ref in refs:
            try:
                ref.stop(timeout=timeout)
            except pykka.ActorDeadError:
                pass
            except pykka.Timeout:
                log.warning("actor_stop_timeout", actor=name)
