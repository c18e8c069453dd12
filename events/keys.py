"""Device identity: an ed25519 key, the same key iroh uses as the device's EndpointId (the
node hands iroh its secret), so the id that signs events is the id peers dial, and a
signature check and a connection check name the same device.

Signing and checking go through libsodium (PyNaCl) rather than iroh's binding: one C call
each, where the binding spends several calls and most of its time lowering bytes in Python,
and a call that lets go of the interpreter while it works, so a batch of signatures is
checked on every core at once (:func:`start_checks`). ed25519 signatures are deterministic:
libsodium signs with the same 32-byte secret exactly as iroh does.

A signature is accepted exactly when iroh's check accepts it. iroh checks with
ed25519-dalek's ``verify_strict``, libsodium with the same rule: RFC 8032's equation without
the cofactor, S below the group order, a key or R of small order refused, R compared with the
one it must be. The two read alike every key and R that is encoded canonically; they differ
only on a y coordinate encoded at or above the field's prime (dalek reduces it, libsodium
refuses it), so such an encoding goes to iroh's own check.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence

import nacl.bindings
from nacl.exceptions import BadSignatureError

DEVICE_ID_LEN = 32
SIGNATURE_LEN = 64

# One signature to check: (device, message, signature).
Signed = tuple[bytes, bytes, bytes]

# An encoded y coordinate whose 255 bits are at least 2**255 - 19: 0xed..0xff, then 30 bytes
# of 0xff, then 0x7f (the last byte's top bit is the sign of x).
_HIGH = b"\xff" * 30


class DeviceKey:
    """A device's secret key. Only the device that owns events may sign them."""

    __slots__ = ("_seed", "_signing", "public")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError("a device's secret key is 32 bytes")
        self._seed = bytes(secret)
        self.public, self._signing = nacl.bindings.crypto_sign_seed_keypair(self._seed)

    @classmethod
    def generate(cls) -> "DeviceKey":
        return cls(os.urandom(32))

    def secret_bytes(self) -> bytes:
        return self._seed

    def sign(self, message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, self._signing)[:SIGNATURE_LEN]


def _non_canonical(point: bytes) -> bool:
    """Whether an encoded point's y is written at or above the prime (see the module text)."""
    return point[31] & 0x7F == 0x7F and point[0] >= 0xED and point[1:31] == _HIGH


def _iroh_verify(device: bytes, message: bytes, signature: bytes) -> bool:
    # iroh's binding (a large ctypes module) is imported only for the rare encodings above.
    import iroh

    try:
        iroh.EndpointId.from_bytes(device).verify(message, iroh.Signature.from_bytes(signature))
    except Exception:  # noqa: BLE001 - hostile bytes must yield False, never a crash
        return False
    return True


def verify_signature(device: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``device``'s signature of ``message``."""
    if len(device) != DEVICE_ID_LEN or len(signature) != SIGNATURE_LEN:
        return False
    if _non_canonical(device) or _non_canonical(signature):
        return _iroh_verify(device, message, signature)
    try:
        nacl.bindings.crypto_sign_open(signature + message, device)
    except BadSignatureError:
        return False
    return True


# Threads that check signatures: libsodium lets go of the interpreter while it checks one.
_WORKERS = os.cpu_count() or 1
# Fewer signatures than this are not worth splitting between threads.
_SPLIT_ABOVE = 64
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has none of its parent's threads: it starts its own


os.register_at_fork(after_in_child=_forget_pool)


def _bad_in(items: Sequence[Signed], lo: int, hi: int) -> list[int]:
    return [i for i in range(lo, hi) if not verify_signature(*items[i])]


def start_checks(items: Sequence[Signed]) -> Callable[[], list[int]]:
    """Start checking the signatures of ``items`` on worker threads; the function returned
    waits for them and answers the indexes of the bad ones, in order (none: all good).

    Each signature is checked by :func:`verify_signature`, alone: a batch accepts and refuses
    exactly what one-by-one checks would, and names each bad one.
    """
    global _pool
    if not items:
        return list
    if len(items) <= _SPLIT_ABOVE or _WORKERS == 1:
        parts = [(0, len(items))]
    else:
        step = -(-len(items) // _WORKERS)
        parts = [(lo, min(lo + step, len(items))) for lo in range(0, len(items), step)]
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="signature-checks")
    futures: list[Future[list[int]]] = [_pool.submit(_bad_in, items, lo, hi) for lo, hi in parts]
    return lambda: [i for f in futures for i in f.result()]


def short_device(device: bytes) -> str:
    """The 10-character prefix people see in tables (as iroh's ``fmt_short`` does)."""
    return device.hex()[:10]
