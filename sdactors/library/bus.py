"""The event bus: fans committed events out to subscribers, filtered by type prefix.

Only the Journal publishes, and only after commit, so a subscriber never sees an event that
could still be rolled back. Subscribing sends no message: the subscriptions are a registry the
bus reads (so a callback never travels inside a message, and a restarted bus keeps them). A
subscriber is called on the bus's thread and must be quick (most tell an actor); one that
raises is logged and kept: it cannot take the bus down with it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from events.envelope import Event
from events.store import type_matches
from sdactors.runtime.logs import get_logger
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)

Deliver = Callable[[Sequence[Event]], None]


@dataclass(frozen=True, slots=True)
class Subscription:
    """Call ``deliver`` with each commit's events whose type starts with one of
    ``prefixes``. Kept in :class:`Subscriptions`; never sent."""

    prefixes: tuple[str, ...]
    deliver: Deliver
    name: str = "subscriber"


@dataclass(frozen=True, slots=True)
class Publish:
    events: tuple[Event, ...]


class Subscriptions:
    """Who listens, kept outside the bus actor so a restarted bus still knows them. Thread-
    safe: subscribing asks no actor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[int, Subscription] = {}
        self._current: tuple[Subscription, ...] = ()
        self._tokens = itertools.count(1)

    def add(self, subscription: Subscription) -> int:
        """The token to remove it with."""
        with self._lock:
            token = next(self._tokens)
            self._by_token[token] = subscription
            self._current = tuple(self._by_token.values())
            return token

    def remove(self, token: int) -> None:
        with self._lock:
            self._by_token.pop(token, None)
            self._current = tuple(self._by_token.values())

    def current(self) -> tuple[Subscription, ...]:
        return self._current


class EventBus(SupervisedActor):
    def __init__(self, subscriptions: Subscriptions, on_crash: CrashHook | None = None) -> None:
        super().__init__(on_crash)
        self._subscriptions = subscriptions

    def on_receive(self, message: object) -> object:
        if isinstance(message, Publish):
            self._publish(message.events)
            return None
        raise TypeError(f"EventBus got an unexpected message: {message!r}")

    def _publish(self, events: tuple[Event, ...]) -> None:
        for sub in self._subscriptions.current():
            if sub.prefixes == ("",):
                matched: Sequence[Event] = events
            else:
                matched = [
                    ev for ev in events if any(type_matches(ev.type, p) for p in sub.prefixes)
                ]
            if not matched:
                continue
            try:
                sub.deliver(matched)
            except Exception as exc:  # noqa: BLE001 - one bad subscriber must not stop the rest
                log.warning("bus_delivery_failed", subscriber=sub.name, error=str(exc))
