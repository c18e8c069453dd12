"""Pairing (``sd/pair/1``): tickets, invitations, and the proof of the secret.

A ticket carries what the joining device needs to reach the inviter (its id and addresses),
the library, when it expires, and a one-time secret. The joiner never sends the secret: it
sends a proof (blake3 keyed by the secret over both device ids and the library), so a
ticket seen on the wire is of no use to anyone else, and a proof is bound to the device that
made it (the connection itself is authenticated by the device keys).
"""

from __future__ import annotations

import base64
import hmac
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import blake3
import msgpack

from sdactors.runtime.errors import BadTicket

ALPN_PAIR = b"sd/pair/1"
PREFIX = "sdpair1"
SECRET_LEN = 32
LIBRARY_LEN = 16
DEVICE_LEN = 32


@dataclass(frozen=True, slots=True)
class Ticket:
    inviter: bytes
    addresses: tuple[str, ...]
    library: bytes
    secret: bytes
    expires_ms: int

    def encode(self) -> str:
        body = msgpack.packb(
            [self.inviter, list(self.addresses), self.library, self.secret, self.expires_ms]
        )
        return PREFIX + base64.b32encode(body).decode().rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> "Ticket":
        text = text.strip()
        if not text.startswith(PREFIX):
            raise BadTicket(f"it does not start with {PREFIX!r}")
        raw = text[len(PREFIX) :].upper()
        try:
            body = base64.b32decode(raw + "=" * (-len(raw) % 8))
            inviter, addresses, library, secret, expires = msgpack.unpackb(body)
        except Exception:  # noqa: BLE001 - whatever was pasted, one line
            raise BadTicket("it is damaged or cut short") from None
        if (
            type(inviter) is not bytes
            or len(inviter) != DEVICE_LEN
            or type(library) is not bytes
            or len(library) != LIBRARY_LEN
            or type(secret) is not bytes
            or len(secret) != SECRET_LEN
            or type(expires) is not int
            or type(addresses) is not list
            or not all(type(a) is str and len(a) < 80 for a in addresses)
        ):
            raise BadTicket("its fields are not what a ticket holds")
        return cls(inviter, tuple(addresses), library, secret, expires)


def proof(secret: bytes, joiner: bytes, inviter: bytes, library: bytes) -> bytes:
    """What the joiner sends: that it holds the secret, for this pairing only."""
    return blake3.blake3(ALPN_PAIR + joiner + inviter + library, key=secret).digest()


@dataclass(slots=True)
class Invitation:
    library: bytes
    secret: bytes
    expires_ms: int
    used: bool = False


@dataclass
class Invitations:
    """The invitations this node has open. Kept in memory only: a restarted node has none,
    so a ticket can never outlive the node that would answer it."""

    _open: list[Invitation] = field(default_factory=list)

    def create(self, library: bytes, expires_s: float) -> Invitation:
        now = time.time()
        self._open = [i for i in self._open if not i.used and i.expires_ms > now * 1000]
        invitation = Invitation(library, os.urandom(SECRET_LEN), int((now + expires_s) * 1000))
        self._open.append(invitation)
        return invitation

    def redeem(self, library: bytes, joiner: bytes, inviter: bytes, shown: bytes) -> Invitation:
        """The invitation ``shown`` proves, marked used; :class:`PairingDenied` otherwise."""
        for invitation in self._open:
            if invitation.library != library:
                continue
            if not hmac.compare_digest(proof(invitation.secret, joiner, inviter, library), shown):
                continue
            if invitation.used:
                raise PairingDenied("this ticket was already used")
            if invitation.expires_ms <= time.time() * 1000:
                raise PairingDenied("this ticket has expired")
            invitation.used = True
            return invitation
        raise PairingDenied(
            "no invitation here matches this ticket (a node forgets its invitations when it "
            "restarts)"
        )


JOINING_NAME = "joining"


@dataclass(frozen=True, slots=True)
class Joining:
    """A join in progress, kept in the library's folder until it ends: a node killed in the
    middle of it trusts the inviter again when it restarts (the library's own membership
    may not be here yet to say who it is), finishes receiving, and then checks the pairing
    counts, as ``sd pair join`` would have."""

    inviter: bytes
    name: str | None
    addresses: tuple[str, ...]

    def save(self, folder: Path) -> None:
        from sdactors.runtime.private_files import write_private

        body = msgpack.packb([self.inviter, self.name, list(self.addresses)])
        write_private(folder / JOINING_NAME, body)

    @classmethod
    def load(cls, folder: Path) -> "Joining | None":
        try:
            inviter, name, addresses = msgpack.unpackb((folder / JOINING_NAME).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, msgpack.ExtraData):
            return None  # a damaged mark: nobody is trusted beyond the membership
        if type(inviter) is not bytes or len(inviter) != DEVICE_LEN:
            return None
        return cls(inviter, name if type(name) is str else None, tuple(map(str, addresses)))

    @staticmethod
    def clear(folder: Path) -> None:
        (folder / JOINING_NAME).unlink(missing_ok=True)


class PairingDenied(Exception):
    """The inviter's reason to refuse, sent to the joiner as it is."""
