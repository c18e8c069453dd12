"""device.key: this device's secret key, created on first use, readable by its owner only."""

from __future__ import annotations

import os

from events.keys import DeviceKey
from sdactors.runtime.errors import ConfigError
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import DataDir
from sdactors.runtime.private_files import PRIVATE_FILE, open_private, private_dir

log = get_logger(__name__)

SECRET_LEN = 32


def load_device_key(data: DataDir) -> DeviceKey:
    path = data.device_key
    private_dir(data.root)
    try:
        # O_EXCL also refuses a symbolic link (even a dangling one): it is never written through.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
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
    # A key others can read is a key others can sign with: opening it makes it 0600.
    fd = open_private(path, os.O_RDONLY)
    try:
        secret = os.read(fd, SECRET_LEN + 1)
    finally:
        os.close(fd)
    if len(secret) != SECRET_LEN:
        raise ConfigError(f"{path} is not a device key ({len(secret)} bytes, expected 32)")
    return DeviceKey(secret)
