"""Commands about who may use the node's HTTP API: the Explorer's password and API keys
(``sdactors/runtime/web_auth.py`` keeps them). Not library actions: nothing is written to a
log, which goes to every device; the secret stays in this data directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Bool, Text
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import BOOL, COUNT, MAYBE_TEXT, TEXT, many, record
from sdactors.runtime.config import load_node_config
from sdactors.runtime.web_auth import CredentialStore

KEY = record(id=TEXT, name=TEXT, read_only=BOOL, created_ms=COUNT)


@op("web.password")
@dataclass(frozen=True)
class WebPassword(Op):
    """Set the Explorer's password (the browser's login)."""

    password: Annotated[str, Text(1, 1024)]

    result = record(password_set=BOOL)

    def run(self, ctx: OpContext) -> Any:
        CredentialStore(ctx.data).set_password(self.password)
        return {"password_set": True}


@op("api.key.create")
@dataclass(frozen=True)
class ApiKeyCreate(Op):
    """A new API key for an integration; its secret is in this answer only."""

    name: Annotated[str, Text(1, 64)]
    read_only: Annotated[bool, Bool()] = False

    result = record(id=TEXT, name=TEXT, read_only=BOOL, created_ms=COUNT, key=TEXT)

    def run(self, ctx: OpContext) -> Any:
        key, secret = CredentialStore(ctx.data).create_key(self.name, self.read_only)
        return {**key.listed(), "key": secret}


@op("api.key.list")
@dataclass(frozen=True)
class ApiKeyList(Op):
    """The API keys (never their secrets)."""

    result = many(KEY)

    def run(self, ctx: OpContext) -> Any:
        return [k.listed() for k in CredentialStore(ctx.data).current().keys]


@op("api.key.revoke")
@dataclass(frozen=True)
class ApiKeyRevoke(Op):
    """Revoke an API key, by name or id: a request carrying it is refused from now on."""

    key: Annotated[str, Text(1, 64)]

    result = KEY

    def run(self, ctx: OpContext) -> Any:
        return CredentialStore(ctx.data).revoke_key(self.key).listed()


@op("web.url")
@dataclass(frozen=True)
class WebUrl(Op):
    """Where the Explorer is: the running node's address, else the one node.toml gives it."""

    result = record(url=MAYBE_TEXT, running=BOOL, password_set=BOOL)

    def run(self, ctx: OpContext) -> Any:
        password_set = CredentialStore(ctx.data).current().password is not None
        if ctx.serving:
            http = ctx.status().get("http")
            return {"url": http and http["url"], "running": True, "password_set": password_set}
        config = load_node_config(ctx.data).http
        host = f"[{config.bind}]" if ":" in config.bind else config.bind
        url = f"http://{host}:{config.port}" if config.enabled and config.port else None
        return {"url": url, "running": False, "password_set": password_set}
