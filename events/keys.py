"""Device identity: an ed25519 key, the same key iroh uses as the device's EndpointId.

Using iroh's key type means the id that signs events is the id peers dial, so a signature
check and a connection check name the same device.
"""

from __future__ import annotations

# iroh's binding (a large ctypes module) is imported when a key is first used, not when the
# log is merely read: reading commands start faster.

DEVICE_ID_LEN = 32
SIGNATURE_LEN = 64


class DeviceKey:
    """A device's secret key. Only the device that owns events may sign them."""

    __slots__ = ("_secret", "public")

    def __init__(self, secret: bytes) -> None:
        import iroh

        self._secret = iroh.SecretKey.from_bytes(secret)
        self.public: bytes = self._secret.public().to_bytes()

    @classmethod
    def generate(cls) -> "DeviceKey":
        import iroh

        return cls(iroh.SecretKey.generate().to_bytes())

    def secret_bytes(self) -> bytes:
        return self._secret.to_bytes()

    def sign(self, message: bytes) -> bytes:
        return self._secret.sign(message).to_bytes()


def verify_signature(device: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``device``'s signature of ``message``."""
    if len(device) != DEVICE_ID_LEN or len(signature) != SIGNATURE_LEN:
        return False
    import iroh

    try:
        iroh.EndpointId.from_bytes(device).verify(message, iroh.Signature.from_bytes(signature))
    except Exception:  # noqa: BLE001 - hostile bytes must yield False, never a crash
        return False
    return True


def short_device(device: bytes) -> str:
    """The 10-character prefix people see in tables (as iroh's ``fmt_short`` does)."""
    return device.hex()[:10]
