"""The connections this node holds, by device, so that a dial can tell which ones are dead.

iroh sends a new connection's handshake on the path that an older connection to the same
device chose, for as long as that older one lives. A device that died without a word (a
SIGKILL, a power cut) and came back on another address, or another port (its IPv6 one,
say), is then out of reach from here until the dead connection times out, half a minute
later: every sync dial and every Spacedrop to it hangs meanwhile.

A live connection hears from its peer every few seconds even when idle (QUIC keep-alives,
acknowledged); one that heard nothing while a dial to the same device hung for
:data:`SILENT_S` is dead, and closing it lets the dial through at once.
"""

from __future__ import annotations

import weakref
from typing import Any

from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# iroh sends a keep-alive every 5 s on an idle connection: a live one hears at least that
# often (its peer acknowledges it).
SILENT_S = 7.0


class Held:
    """Open connections by device. Weak: a connection its user dropped is not kept alive."""

    def __init__(self) -> None:
        self._by: dict[bytes, weakref.WeakSet[Any]] = {}

    def add(self, device: bytes, conn: Any) -> None:
        self._by.setdefault(device, weakref.WeakSet()).add(conn)

    def discard(self, device: bytes, conn: Any) -> None:
        held = self._by.get(device)
        if held is not None:
            held.discard(conn)
            if not held:
                del self._by[device]

    def heard(self, device: bytes) -> dict[Any, int]:
        """What each open connection to ``device`` received so far (datagrams)."""
        found = {}
        for conn in list(self._by.get(device, ())):
            received = _received(conn)
            if received is not None:
                found[conn] = received
        return found

    def close_silent(self, device: bytes, before: dict[Any, int]) -> int:
        """Close the connections that received nothing since ``before`` (:meth:`heard`, at
        least :data:`SILENT_S` ago); how many."""
        closed = 0
        for conn, received in before.items():
            if _received(conn) != received:
                continue  # it heard something, or closed meanwhile
            try:
                conn.close(1, b"silent: taken for dead")
            except Exception:  # noqa: BLE001 - closed anyway
                pass
            self.discard(device, conn)
            closed += 1
        if closed:
            log.info("stale_connections_closed", device=device.hex(), count=closed)
        return closed


def _received(conn: Any) -> int | None:
    """Datagrams ``conn`` received, or None once it is closed."""
    try:
        if conn.close_reason() is not None:
            return None
        return int(conn.stats().udp_rx_datagrams)
    except Exception:  # noqa: BLE001 - a connection already gone
        return None
