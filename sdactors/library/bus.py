"""The event bus: fans committed events out to subscribers, filtered by type prefix.

Only the Journal publishes, and only after commit, so a subscriber never sees an event that
could still be rolled back. A subscriber is an actor: the bus tells it a :class:`Notice` (the
events, and which subscription they are for), so the bus's own thread never runs anyone
else's code. A subscriber that is gone is logged and kept (a restarted actor subscribes its
new instance under the same name); it cannot take the bus down with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

from events.envelope import Event
from events.store import type_matches
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Mailbox
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Subscription:
    """Tell ``subscriber`` of each commit of events whose type starts with one of
    ``prefixes``. ``name`` is unique in its library: subscribing again under it replaces the
    subscription."""

    name: str
    prefixes: tuple[str, ...]
    subscriber: Mailbox


@dataclass(frozen=True, slots=True)
class Publish:
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """What a subscriber is told: events of ``library`` its subscription matched, committed."""

    library: str
    subscription: str
    events: tuple[Event, ...]


class Subscriptions:
    """Who listens, kept outside the bus actor so a restarted bus still knows them. Thread-
    safe: subscribing asks no actor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Subscription] = {}
        self._current: tuple[Subscription, ...] = ()

    def put(self, subscription: Subscription) -> None:
        with self._lock:
            self._by_name[subscription.name] = subscription
            self._current = tuple(self._by_name.values())

    def remove(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(name, None)
            self._current = tuple(self._by_name.values())

    def current(self) -> tuple[Subscription, ...]:
        return self._current


class EventBus(SupervisedActor):
    def __init__(
        self, library: str, subscriptions: Subscriptions, on_crash: CrashHook | None = None
    ) -> None:
        super().__init__(on_crash)
        self._library = library
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
                matched = tuple(
                    ev for ev in events if any(type_matches(ev.type, p) for p in sub.prefixes)
                )
            if not matched:
                continue
            try:
                sub.subscriber.tell(Notice(self._library, sub.name, matched))  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - one gone subscriber must not stop the rest
                log.warning("bus_delivery_failed", subscriber=sub.name, error=str(exc))
