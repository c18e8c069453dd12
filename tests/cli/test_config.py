"""node.toml and library.toml migrations, newer-version errors, and the device key file."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from sdactors.library.config import LIBRARY_SCHEMA_VERSION
from sdactors.runtime import versioned_toml
from sdactors.runtime.config import NODE_SCHEMA_VERSION
from sdactors.runtime.errors import ConfigError
from tests.conftest import Sd
from tests.helpers_log import library_dirs


def read_toml(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def registered_names(sd: Sd) -> list[str]:
    shown = sd.run("--json", "log", "show", "--type", "device.registered").json_lines()
    return [line["body"]["name"] for line in shown]


def test_node_toml_v1_is_migrated(sd: Sd) -> None:
    sd.data_dir.mkdir(parents=True)
    (sd.data_dir / "node.toml").write_text('schema_version = 1\ndevice_name = "attic-server"\n')
    sd.run("library", "create", "Home")
    migrated = read_toml(sd.data_dir / "node.toml")
    assert migrated["schema_version"] == NODE_SCHEMA_VERSION
    assert migrated["device"]["name"] == "attic-server"
    assert "device_name" not in migrated
    assert migrated["node"]["log_format"] == "json"
    # The migrated name is the one this device introduces itself with.
    assert registered_names(sd) == ["attic-server"]
    sd.run("tag", "create", "x")
    assert read_toml(sd.data_dir / "node.toml") == migrated


def test_library_toml_v1_is_migrated(sd: Sd) -> None:
    lib = sd.json("library", "create", "Home")
    (path,) = [d / "library.toml" for d in library_dirs(sd.data_dir)]
    path.write_text(
        f'schema_version = 1\nid = "{lib["id"]}"\nname = "Home"\ncreated_ms = 1700000000123\n'
    )
    listed = sd.json("library", "list")
    assert listed == [{"id": lib["id"], "name": "Home", "created": "2023-11-14T22:13:20.123000Z"}]
    migrated = read_toml(path)
    assert migrated["schema_version"] == LIBRARY_SCHEMA_VERSION
    assert migrated["created"] == "2023-11-14T22:13:20.123000Z"
    assert "created_ms" not in migrated
    # The library still works after its file was migrated.
    sd.run("tag", "create", "After")
    assert [t["name"] for t in sd.json("tag", "list")] == ["After"]


@pytest.mark.parametrize("which", ["node", "library"])
def test_a_newer_schema_version_is_a_clear_error(sd: Sd, which: str) -> None:
    sd.run("library", "create", "Home")
    if which == "node":
        path = sd.data_dir / "node.toml"
    else:
        (root,) = library_dirs(sd.data_dir)
        path = root / "library.toml"
    content = read_toml(path)
    content["schema_version"] = 99
    versioned_toml.save(path, content)
    before = path.read_bytes()
    failed = sd.fails("tag", "create", "X")
    line = failed.err.strip()
    assert "\n" not in line
    assert str(path) in line and "99" in line and "newer" in line
    assert sd.fails("tag", "create", "Y", "--json").json()["error"] == line.removeprefix(
        "sd: error: "
    )
    assert path.read_bytes() == before, "a file from a newer version must not be rewritten"


def test_broken_config_files_are_one_line_errors(sd: Sd) -> None:
    sd.data_dir.mkdir(parents=True)
    node = sd.data_dir / "node.toml"
    node.write_text("schema_version = [\n")
    assert "not valid TOML" in sd.fails("library", "list").err
    node.write_text('device_name = "x"\n')
    assert "no valid schema_version" in sd.fails("library", "list").err


@pytest.mark.parametrize("value", ["0", "-5", '"lots"', "1.5", "true"])
def test_a_thumbnail_cache_bound_that_is_no_size_is_a_one_line_error(sd: Sd, value: str) -> None:
    sd.run("library", "create", "Home")
    with (sd.data_dir / "node.toml").open("a") as toml:
        toml.write(f"\n[thumbnails]\ncache_mb = {value}\n")
    line = sd.fails("tag", "create", "X").err.strip()
    assert "[thumbnails] cache_mb must be a whole number of MiB, at least 1" in line, line
    assert "\n" not in line


def test_device_key_is_private_and_reused(sd: Sd) -> None:
    sd.run("library", "create", "Home")
    key = sd.data_dir / "device.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = key.read_bytes()
    assert len(secret) == 32
    sd.run("tag", "create", "Second")
    assert key.read_bytes() == secret
    devices = {line["device"] for line in sd.run("--json", "log", "show").json_lines()}
    assert len(devices) == 1, "a second command must sign as the same device"
    # A key others can read is tightened, and still the same key.
    key.chmod(0o644)
    sd.run("tag", "create", "Third")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_bytes() == secret
    assert {line["device"] for line in sd.run("--json", "log", "show").json_lines()} == devices


def test_a_damaged_device_key_is_refused(sd: Sd) -> None:
    sd.data_dir.mkdir(parents=True)
    key = sd.data_dir / "device.key"
    key.write_bytes(b"short")
    key.chmod(0o600)
    failed = sd.fails("library", "create", "Home")
    assert "not a device key" in failed.err and "\n" not in failed.err.strip()
    assert not list((sd.data_dir).glob("libraries/*"))


def test_migrations_run_step_by_step_and_are_saved(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    versioned_toml.save(path, {"schema_version": 1, "a": 1})

    def one(c: dict) -> dict:
        c["b"] = c.pop("a") + 1
        return c

    steps = {1: one, 2: lambda c: {**c, "c": c["b"] * 10}}
    loaded = versioned_toml.load(path, 3, steps)
    assert loaded == {"schema_version": 3, "b": 2, "c": 20}
    assert read_toml(path) == loaded
    versioned_toml.save(path, {"schema_version": 1})
    with pytest.raises(ConfigError, match="no migration from schema version 2"):
        versioned_toml.load(path, 3, {1: lambda c: c})
    with pytest.raises(ConfigError, match="does not exist"):
        versioned_toml.load(tmp_path / "missing.toml", 1, {})
