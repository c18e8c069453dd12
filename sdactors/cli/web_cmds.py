"""``sd web password`` and ``sd api key``: who may use the node's HTTP API and Explorer."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, pass_ctx


@click.group("web")
def web() -> None:
    """The Explorer: the node's web page (http://127.0.0.1:8787 by default)."""


@web.command("password")
@json_option
@pass_ctx
def password(ctx: CliContext) -> None:
    """Set the Explorer's password: typed at the prompt (twice), or one line on stdin.

    Kept as a slow salted hash in the data directory, never in the log."""
    if sys.stdin.isatty():
        given = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        given = sys.stdin.readline().rstrip("\r\n")
    result = ctx.call("web.password", password=given)
    ctx.out.result(result, "password set: log in to the Explorer with it")


@web.command("url")
@json_option
@pass_ctx
def url(ctx: CliContext) -> None:
    """Where to open the Explorer (the running node's address, else node.toml's)."""
    result = ctx.call("web.url")
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    ctx.out.line(result["url"] or "no fixed address: [http] is off, or its port is picked at start")
    if not result["password_set"]:
        ctx.out.line("no password is set yet: sd web password")


@click.group("api")
def api() -> None:
    """Access to the node's HTTP API for programs."""


@api.group("key")
def key() -> None:
    """API keys, sent as the header ``Authorization: Bearer KEY``."""


@key.command("create")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="Only commands that change nothing.")
@json_option
@pass_ctx
def create(ctx: CliContext, name: str, read_only: bool) -> None:
    """Make a key NAME and print it: it is shown this once (only its hash is kept)."""
    result = ctx.call("api.key.create", name=name, read_only=read_only)
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    scope = "read-only" if read_only else "full"
    ctx.out.line(f"created {scope} API key {name} (id {result['id']}); it is shown only now:")
    ctx.out.line(result["key"])


@key.command("list")
@json_option
@pass_ctx
def list_(ctx: CliContext) -> None:
    """The API keys (never their secrets)."""
    keys = ctx.call("api.key.list")
    if ctx.out.as_json:
        ctx.out.json(keys)
        return
    ctx.out.table(
        ["name", "id", "scope", "created"],
        [
            (
                k["name"],
                k["id"],
                "read-only" if k["read_only"] else "full",
                datetime.fromtimestamp(k["created_ms"] / 1000, timezone.utc).isoformat(
                    timespec="seconds"
                ),
            )
            for k in keys
        ],
        "no API keys (sd api key create NAME)",
    )


@key.command("revoke")
@click.argument("name")
@json_option
@pass_ctx
def revoke(ctx: CliContext, name: str) -> None:
    """Revoke the key NAME (or of that id): refused from now on."""
    result = ctx.call("api.key.revoke", key=name)
    ctx.out.result(result, f"revoked API key {result['name']}")
