"""Who is asking, and what they may do: every request to the node's HTTP server goes through
:class:`Guard` before any route sees it.

- **Deny by default.** A request is let through without a session or a key only to a public
  route (:data:`PUBLIC`: logging in, the session's state) or to the page's own files (the
  static mount, which holds no data). Any other route, present or added later (GraphQL's
  included), needs one.
- **Who.** A browser logs in with the password and gets a session: an HttpOnly,
  SameSite=Strict cookie, kept in the node's memory only (a restart logs everyone out, and no
  session secret ever lies on disk where a copy of the data directory would take it along).
  A program sends an API key as ``Authorization: Bearer KEY``.
- **Writes with a session** (every method but GET, HEAD and OPTIONS) need the session's CSRF
  token in ``X-CSRF-Token``, and an ``Origin``, when the browser sends one, that is the
  node's own; a websocket opened with a session needs its Origin, always (browsers send it).
  A key is never sent by a browser on its own, so it needs neither.
- **Host.** Bound to loopback, the node answers only requests naming it as loopback
  (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``): a web page of another site whose
  name was made to point at 127.0.0.1 (DNS rebinding) is refused.
- **Read-only keys** run the ops that change nothing (:data:`READS`), never one that names a
  path of this machine (:data:`HOST_PATHS`) or manages keys (:data:`KEYS`).

No secret travels in a URL; none is logged (the guard logs refusals by reason and path only).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable

from sdactors.runtime.logs import get_logger
from sdactors.runtime.plain import dumps
from sdactors.runtime.web_auth import CredentialStore

log = get_logger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "sd_session"
CSRF_HEADER = "x-csrf-token"
# Routes anyone may reach: how to log in, and whether one is.
PUBLIC = frozenset({"/api/v1/login", "/api/v1/logout", "/api/v1/session"})
# A session ends after this long unused, and after this long at most.
SESSION_IDLE_S = 12 * 3600
SESSION_MOST_S = 7 * 86400
SESSIONS_MOST = 1000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The ops that change nothing anywhere (the library, this machine, the network): what a
# read-only key may run. An op not listed here is a write, whatever it is (a new op is
# refused to read-only keys until it is listed).
READS = frozenset(
    {
        "agent.list",
        "agent.proposals",
        "agent.show",
        "audit",
        "device.list",
        "drop.list",
        "duplicates",
        "duplicates.similar",
        "info",
        "jobs.info",
        "jobs.list",
        "library.info",
        "library.list",
        "location.list",
        "log.bisect",
        "log.explain",
        "log.history",
        "log.moment",
        "log.show",
        "log.stats",
        "log.tail",
        "log.verify",
        "ls",
        "node.status",
        "projections.digest",
        "projections.tables",
        "search",
        "stats",
        "sync.status",
        "tag.list",
        "thumb.fetch",
        "thumbs.status",
        "trash.list",
        "volume.list",
        "web.url",
        "why",
    }
)
# Ops that name a file or folder of this machine to read or write (beyond the indexed
# locations): a full key or a session only.
HOST_PATHS = frozenset(
    {
        "agent.grant",
        "drop.send",
        "file.copy",
        "file.move",
        "file.remove",
        "location.add",
        "log.diff",
        "log.export",
        "log.import",
        "log.restore",
        "projections.fold",
        "trash.restore",
        "volume.speedtest",
    }
)
# Ops that manage who may come in: a full key or a session only.
KEYS = frozenset({"web.password", "api.key.create", "api.key.list", "api.key.revoke"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: ``session`` (the browser's login) or ``key`` (its name)."""

    kind: str
    name: str
    read_only: bool = False

    def refusal(self, op_name: str) -> str | None:
        """Why this principal may not run ``op_name`` (None: it may)."""
        if not self.read_only:
            return None
        if op_name in HOST_PATHS:
            return f"{op_name} names paths of the node's machine: a full key or a session only"
        if op_name in KEYS:
            return f"{op_name} manages access: a full key or a session only"
        if op_name not in READS:
            return f"{op_name} changes something: the key {self.name} is read-only"
        return None


def principal_of(scope: Scope) -> Principal | None:
    """Who the guard let in (None on a public route reached without a session or key)."""
    return scope.get("state", {}).get("principal")


@dataclass(slots=True)
class Session:
    csrf: str
    created: float
    used: float = field(default=0.0)


class Sessions:
    """The browser's sessions, in memory (see the module's docstring for why)."""

    def __init__(self) -> None:
        self._by_token: dict[str, Session] = {}

    def open(self) -> tuple[str, Session]:
        now = time.monotonic()
        self._expire(now)
        while len(self._by_token) >= SESSIONS_MOST:
            oldest = min(self._by_token, key=lambda t: self._by_token[t].used)
            del self._by_token[oldest]
        token = secrets.token_urlsafe(32)
        session = self._by_token[token] = Session(secrets.token_urlsafe(32), now, now)
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.used > SESSION_IDLE_S or now - session.created > SESSION_MOST_S:
            del self._by_token[token]
            return None
        session.used = now
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def close_all(self) -> None:
        self._by_token.clear()

    def _expire(self, now: float) -> None:
        for token, s in list(self._by_token.items()):
            if now - s.used > SESSION_IDLE_S or now - s.created > SESSION_MOST_S:
                del self._by_token[token]


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (a repeated one: its last)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def session_token(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a cookie header we cannot read is no session
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


class Binding:
    """Where the server listens (set once it has bound): what the Host check allows."""

    def __init__(self, bind: str, port: int) -> None:
        self.bind = bind
        self.port = port

    @property
    def loopback(self) -> bool:
        return self.bind in ("127.0.0.1", "localhost", "::1") or self.bind.startswith("127.")

    def host_allowed(self, host: str | None) -> bool:
        if not self.loopback:
            return True
        if host is None:
            return False
        port = self.port
        return host.lower() in {
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"[::1]:{port}",
            f"{self.bind}:{port}",
        }

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        if self.bind in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"


def own_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` is the node's own: the scheme and the very host and port the
    request was sent to (behind a TLS proxy, https)."""
    return host is not None and origin.lower() in (
        f"http://{host}".lower(),
        f"https://{host}".lower(),
    )


def error_body(code: str, message: str) -> bytes:
    return dumps({"error": {"code": code, "message": message}}).encode()


class Guard:
    """The ASGI middleware in front of every route (see the module's docstring)."""

    def __init__(
        self,
        app: App,
        *,
        store: CredentialStore,
        sessions: Sessions,
        binding: Binding,
        protected: Callable[[Scope], bool],
    ) -> None:
        self.app = app
        self.store = store
        self.sessions = sessions
        self.binding = binding
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = headers_of(scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, code, message = refusal
            log.info("http_refused", code=code, path=scope.get("path"))
            await _refuse(scope, receive, send, status, code, message)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        host = headers.get("host")
        if not self.binding.host_allowed(host):
            return (
                403,
                "foreign_host",
                (
                    "this node answers on loopback only to its own address "
                    f"(127.0.0.1:{self.binding.port} or localhost:{self.binding.port})"
                ),
            )
        credentials = self.store.current()
        scope.setdefault("state", {})
        websocket = scope["type"] == "websocket"
        method = "GET" if websocket else scope["method"]
        origin = headers.get("origin")
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, given = auth.partition(" ")
            key = credentials.key_for(given.strip()) if scheme.lower() == "bearer" else None
            if key is None:
                return 401, "bad_key", "the API key is not valid (revoked, or never made)"
            scope["state"]["principal"] = Principal("key", key.name, key.read_only)
            return None
        token = session_token(headers)
        session = self.sessions.get(token)
        if session is not None:
            scope["state"]["principal"] = Principal("session", "browser")
            scope["state"]["session"] = (token, session)
            if websocket and (origin is None or not own_origin(origin, host)):
                return 403, "foreign_origin", "a websocket from another site is refused"
            if method not in SAFE_METHODS:
                if origin is not None and not own_origin(origin, host):
                    return 403, "foreign_origin", "a write from another site is refused"
                given = headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    return (
                        403,
                        "csrf",
                        (
                            "a write needs the session's CSRF token in the X-CSRF-Token header "
                            "(GET /api/v1/session gives it)"
                        ),
                    )
            return None
        if not self.protected(scope):
            if method not in SAFE_METHODS and origin is not None and not own_origin(origin, host):
                return 403, "foreign_origin", "a write from another site is refused"
            return None
        if not credentials.configured:
            return (
                401,
                "no_password",
                (
                    "no password is set: run `sd web password` on the node's machine "
                    "(or make a key: sd api key create NAME)"
                ),
            )
        return (
            401,
            "unauthenticated",
            ("log in (POST /api/v1/login) or send an API key (Authorization: Bearer KEY)"),
        )


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 4000 + status, "reason": code})
        return
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
