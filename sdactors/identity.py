"""device.key: this device's secret key, created on first use, readable by its owner only."""

from __future__ import annotations

import os
import stat

from events.keys import DeviceKey
from sdactors.errors import ConfigError
from sdactors.logs import get_logger
from sdactors.paths import DataDir

log = get_logger(__name__)

SECRET_LEN = 32


def load_device_key(data: DataDir) -> DeviceKey:
    path = data.device_key
    data.root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        key = DeviceKey.generate()
        try:
            os.write(fd, key.secret_bytes())
            os.fsync(fd)
        finally:
            os.close(fd)
        log.info("device_key_created", path=str(path))
        return key
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # A key others can read is a key others can sign with: tighten it, and say so.
        os.chmod(path, 0o600)
        log.warning("device_key_permissions_fixed", path=str(path), was=oct(mode))
    secret = path.read_bytes()
    if len(secret) != SECRET_LEN:
        raise ConfigError(f"{path} is not a device key ({len(secret)} bytes, expected 32)")
    return DeviceKey(secret)
