"""``sd web password`` and ``sd api key``: who may use the node's HTTP API, as a user sets it
up (whether they reach the node is tests/unit/test_http_api.py's and
tests/system/test_http_node.py's)."""

from __future__ import annotations

import json

from sdactors.runtime.paths import DataDir
from sdactors.runtime.web_auth import CredentialStore
from tests.conftest import Sd


def test_a_password_is_kept_as_a_slow_hash_in_a_private_file(sd: Sd) -> None:
    sd.env.pop("SD_HTTP_PORT")  # the default port, as a user has it
    assert sd.json("web", "url") == {
        "url": "http://127.0.0.1:8787",
        "running": False,
        "password_set": False,
    }
    assert "no password is set yet" in sd.run("web", "url").out
    short = sd.run("web", "password", input="short\n", check=False)
    assert short.code == 1
    assert "at least 8 characters" in short.err
    assert sd.run("web", "password", input="a good long one\n").out.startswith("password set")
    stored = sd.data_dir / "web-auth.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    content = json.loads(stored.read_text())
    assert "a good long one" not in stored.read_text()
    assert content["password"]["scheme"] == "scrypt"
    credentials = CredentialStore(DataDir(sd.data_dir)).current()
    assert credentials.password_matches("a good long one")
    assert not credentials.password_matches("a good long on")
    assert sd.json("web", "url")["password_set"] is True


def test_a_key_is_shown_once_listed_without_its_secret_and_revoked(sd: Sd) -> None:
    made = sd.run("api", "key", "create", "backup-script")
    secret = made.out.splitlines()[-1]
    assert secret.startswith("sdk_") and len(secret) > 40
    reader = sd.json("api", "key", "create", "dashboard", "--read-only")
    assert reader["read_only"] is True and reader["key"] != secret
    assert "exists already" in sd.fails("api", "key", "create", "dashboard").err
    listed = sd.json("api", "key", "list")
    assert [(k["name"], k["read_only"]) for k in listed] == [
        ("backup-script", False),
        ("dashboard", True),
    ]
    text = sd.run("api", "key", "list").out
    assert secret not in text and reader["key"] not in text
    assert secret not in (sd.data_dir / "web-auth.json").read_text()
    store = CredentialStore(DataDir(sd.data_dir))
    assert store.current().key_for(secret).name == "backup-script"
    assert sd.run("api", "key", "revoke", "backup-script").out.strip() == (
        "revoked API key backup-script"
    )
    assert store.current().key_for(secret) is None
    assert store.current().key_for(reader["key"]).name == "dashboard"
    assert "no API key named" in sd.fails("api", "key", "revoke", "backup-script").err
