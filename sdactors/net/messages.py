"""What the Networking actor is told and asked (:mod:`sdactors.net.networking`).

Each message is a frozen dataclass of plain values: ids are hex text, devices 32 bytes. A
long ask names a progress channel (``progress``: its id, from
:class:`sdactors.runtime.progress.ProgressChannels`) that the actor posts plain records to;
the reply comes only through the ask's future, and is plain data too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Serve:
    """A library began serving on this node: sync it with its paired devices."""

    library: str


@dataclass(frozen=True, slots=True)
class Invite:
    """A one-time pairing ticket for ``library``, valid ``expires_s`` seconds."""

    library: str
    expires_s: float


@dataclass(frozen=True, slots=True)
class Join:
    """Pair with the device that made ``ticket``, and receive its library's log."""

    ticket: str
    progress: str | None = None


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Per paired device of a library: connected, what each side lacks, and why not."""

    library: str


@dataclass(frozen=True, slots=True)
class SyncNow:
    """Dial every paired device of a library now, without waiting for the backoff."""

    library: str


@dataclass(frozen=True, slots=True)
class SyncPause:
    """Pause (or resume) sync with one device of a library, or with all of them."""

    library: str
    device: bytes | None
    paused: bool


@dataclass(frozen=True, slots=True)
class PeersSeen:
    """Per device of a library: whether connected, and when last heard from."""

    library: str


@dataclass(frozen=True, slots=True)
class DropSend:
    """Send ``paths`` (absolute, regular files) to ``device`` at ``addresses``, offered in
    ``library`` (a library id, or None when this device has none to name)."""

    device: bytes
    addresses: tuple[str, ...]
    paths: tuple[bytes, ...]
    library: str | None
    progress: str | None = None


@dataclass(frozen=True, slots=True)
class DropList:
    """Offers waiting here, and the drops sent and received lately."""


@dataclass(frozen=True, slots=True)
class DropDecide:
    """Accept (into ``library``, or the one the offer chose) or reject a pending offer."""

    offer: str
    accept: bool
    library: str | None = None
    progress: str | None = None


@dataclass(frozen=True, slots=True)
class ThumbFetch:
    """The thumbnail of content ``cid`` at ``size`` (pixels) in ``library``, as ``device``
    (named ``name``, at ``addresses``) holds it: from this node's cache, else asked of that
    device and kept in the cache. The reply: the cached file's path, and where it came from."""

    library: str
    device: bytes
    name: str
    addresses: tuple[str, ...]
    cid: bytes
    size: int


SyncMessage = SyncStatus | SyncNow | SyncPause | PeersSeen
PairMessage = Invite | Join
DropMessage = DropSend | DropList | DropDecide
NetMessage = Serve | SyncMessage | PairMessage | DropMessage | ThumbFetch
