"""Signatures: libsodium signs and checks as iroh's binding does, one by one or in batches.

The signatures iroh's check accepts are the reference (ed25519-dalek's ``verify_strict``).
Every case here is checked both ways and must get the same answer, including signatures
made to sit on the edges where ed25519 checkers are known to differ: small-order keys and
R, keys and R with a torsion part, S past the group order, encodings past the prime. They
are made with a little ed25519 arithmetic of our own (slow, exact, enough for a few points).
"""

from __future__ import annotations

import hashlib
import os

import pytest

from events.keys import DeviceKey, _iroh_verify, start_checks, verify_signature

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def add(a: Point, b: Point) -> Point:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x = (x1 * y2 + y1 * x2) * pow(1 + t, P - 2, P) % P
    y = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x, y


def mul(n: int, point: Point) -> Point:
    out = IDENTITY
    while n:
        if n & 1:
            out = add(out, point)
        point = add(point, point)
        n >>= 1
    return out


def x_of(y: int, sign: int) -> int | None:
    u = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(u, (P + 3) // 8, P)
    if x * x % P != u:
        x = x * SQRT_M1 % P
    if x * x % P != u:
        return None
    return P - x if (x & 1) != sign and x else x


def encode(point: Point) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode_y(y: int, sign: int = 0) -> Point | None:
    x = x_of(y % P, sign)
    return None if x is None else (x, y % P)


BASE = decode_y(4 * pow(5, P - 2, P))
assert BASE is not None


def order_8_point() -> Point:
    """A point of order 8: the torsion part of some point, multiplied out by the group order."""
    y = 3
    while True:
        point = decode_y(y)
        if point is not None:
            t = mul(L, point)
            if mul(4, t) != IDENTITY:
                return t
        y += 1


T8 = order_8_point()
TORSION = [mul(i, T8) for i in range(8)]


def secret_scalar(seed: bytes) -> int:
    a = int.from_bytes(hashlib.sha512(seed).digest()[:32], "little")
    return (a & ((1 << 254) - 8)) | (1 << 254)


def challenge(r: bytes, a: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + message).digest(), "little") % L


def signature(r_enc: bytes, s: int) -> bytes:
    return r_enc + s.to_bytes(32, "little")


def agree(device: bytes, message: bytes, sig: bytes) -> bool:
    """Both checks' answer, once they are seen to be the same."""
    ours = verify_signature(device, message, sig)
    assert ours == _iroh_verify(device, message, sig), (device.hex(), sig.hex())
    assert start_checks([(device, message, sig)])() == ([] if ours else [0])
    return ours


def test_keys_and_signatures_are_the_ones_iroh_makes() -> None:
    import iroh

    for size in (0, 1, 32, 33, 1000):
        seed = os.urandom(32)
        ours, theirs = DeviceKey(seed), iroh.SecretKey.from_bytes(seed)
        assert ours.public == theirs.public().to_bytes()
        message = os.urandom(size)
        assert ours.sign(message) == theirs.sign(message).to_bytes()
        assert DeviceKey(ours.secret_bytes()).public == ours.public


def test_plain_signatures_are_checked_as_iroh_checks_them() -> None:
    key, other = DeviceKey.generate(), DeviceKey.generate()
    message = os.urandom(32)
    sig = key.sign(message)
    assert agree(key.public, message, sig)
    assert not agree(other.public, message, sig)  # another key's
    assert not agree(key.public, message, other.sign(message))
    assert not agree(key.public, message + b"x", sig)
    for i in (0, 31, 32, 63):  # a bit of R, of S
        changed = bytearray(sig)
        changed[i] ^= 0x10
        assert not agree(key.public, message, bytes(changed))
    for device, bad in [
        (key.public, sig[:-1]),
        (key.public, sig + b"\x00"),
        (key.public, b""),
        (key.public[:-1], sig),
        (key.public + b"\x00", sig),
        (b"\xff" * 32, sig),  # not a point
        (bytes(32), sig),
    ]:
        assert not agree(device, message, bad)


def test_the_edges_of_ed25519_are_read_as_iroh_reads_them() -> None:
    seed = os.urandom(32)
    a = secret_scalar(seed)
    public = DeviceKey(seed).public
    assert encode(mul(a, BASE)) == public
    message = b"an event id, say"

    # S past the group order: the same equation, a second encoding of S.
    r = 12345
    r_enc = encode(mul(r, BASE))
    s = (r + challenge(r_enc, public, message) * a) % L
    assert agree(public, message, signature(r_enc, s))
    assert not agree(public, message, signature(r_enc, s + L))

    # R of small order with an equation that holds: refused. (iroh's binding is slow to
    # refuse where the environment asks Rust for backtraces: the cases here are few.)
    for t in TORSION[::3]:
        r_enc = encode(t)
        s = challenge(r_enc, public, message) * a % L
        assert not agree(public, message, signature(r_enc, s))

    # R with a torsion part: only a cofactored check would take it.
    r_enc = encode(add(mul(r, BASE), T8))
    s = (r + challenge(r_enc, public, message) * a) % L
    assert not agree(public, message, signature(r_enc, s))

    # A key of small order (every encoding, the sign bit set too): refused, even with the
    # identity as R and zero as S, whose equation holds for some.
    negative_zero = (1 | 1 << 255).to_bytes(32, "little")
    for enc in [negative_zero, *(encode(t) for t in TORSION)]:
        assert not agree(enc, message, signature(encode(IDENTITY), 0))

    # A key with a torsion part: accepted when the torsion cancels out, refused otherwise.
    mixed = encode(add(mul(a, BASE), T8))
    seen = set()
    for r in range(1, 200):
        r_enc = encode(mul(r, BASE))
        k = challenge(r_enc, mixed, message)
        seen.add(agree(mixed, message, signature(r_enc, (r + k * a) % L)))
        if seen == {True, False}:
            break
    assert seen == {True, False}

    # y written past the prime, where that is a point dalek reads: as a key, as R.
    past = [(y + P).to_bytes(32, "little") for y in range(19) if decode_y(y) is not None]
    assert len(past) > 3
    r_enc = encode(mul(r, BASE))
    for enc in past:
        assert not agree(enc, message, signature(r_enc, r))
    assert not agree(public, message, past[-1] + (5).to_bytes(32, "little"))


def test_a_batch_names_each_bad_signature_and_only_those() -> None:
    keys = [DeviceKey.generate() for _ in range(3)]
    items = []
    for i in range(500):
        key = keys[i % 3]
        message = os.urandom(32)
        items.append((key.public, message, key.sign(message)))
    assert start_checks(items)() == []
    assert start_checks([])() == []
    bad = {7: "another key's", 250: "flipped", 251: "short", 499: "another message"}
    for i, how in bad.items():
        device, message, sig = items[i]
        if how == "another key's":
            sig = keys[(i + 1) % 3].sign(message)
        elif how == "flipped":
            sig = sig[:40] + bytes([sig[40] ^ 1]) + sig[41:]
        elif how == "short":
            sig = sig[:63]
        else:
            message = os.urandom(32)
        items[i] = (device, message, sig)
    assert start_checks(items)() == sorted(bad)
    assert [i for i, item in enumerate(items) if not verify_signature(*item)] == sorted(bad)


@pytest.mark.parametrize("size", [1, 64, 65, 1000])
def test_a_batch_of_any_size_finds_its_one_bad_signature(size: int) -> None:
    key = DeviceKey.generate()
    messages = [os.urandom(32) for _ in range(size)]
    items = [(key.public, m, key.sign(m)) for m in messages]
    last = size - 1
    items[last] = (key.public, messages[last], key.sign(b"something else"))
    assert start_checks(items)() == [last]
