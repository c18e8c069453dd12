"""The HTTP server inside ``sd node run``: hypercorn serving the app in the node's own trio
nursery (no thread, no second event loop: a route that waits on the node runs its op in a
worker thread, as the control socket does).

The socket is bound before the node starts anything else, so a port in use or an address that
must not be served without a password stops ``sd node run`` at once, in one line. On stop,
the event streams end first (``stop``), then hypercorn closes what is left within DRAIN_S.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import trio

from sdactors.node.http import access
from sdactors.node.http.app import HttpHost, build_app
from sdactors.runtime.config import HttpConfig
from sdactors.runtime.errors import HttpRefused
from sdactors.runtime.logs import get_logger
from sdactors.runtime.web_auth import CredentialStore

log = get_logger(__name__)

# How long open requests and streams get to end when the node stops.
DRAIN_S = 2.0


class HttpServer:
    def __init__(self, host: HttpHost, config: HttpConfig) -> None:
        self.config = config
        if not access.Binding(config.bind, config.port).loopback:
            if not CredentialStore(host.data).current().configured:
                raise HttpRefused(
                    f"[http] bind = {config.bind!r} serves other machines, and no password or "
                    "API key is set: run `sd web password` (or `sd api key create NAME`) "
                    "first, or bind 127.0.0.1"
                )
        self._sock = _bind(config.bind, config.port)
        port = self._sock.getsockname()[1]
        self.binding = access.Binding(config.bind, port)
        self.app = build_app(host, self.binding)
        self._shutdown = trio.Event()
        self._done = trio.Event()

    @property
    def url(self) -> str:
        return self.binding.url

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        from hypercorn.config import Config
        from hypercorn.trio import serve

        config = Config()
        config.bind = [f"fd://{self._sock.detach()}"]
        config.graceful_timeout = DRAIN_S
        config.accesslog = None  # a URL is no place for secrets, but nor is a log of them
        config.errorlog = None
        config.include_server_header = False
        try:
            task_status.started()
            log.info("http_serving", url=self.url)
            await serve(self.app, config, shutdown_trigger=self._shutdown.wait)  # type: ignore[arg-type]
        finally:
            self._done.set()

    async def stop(self) -> None:
        """End the event streams, stop taking requests, and wait (at most DRAIN_S) for the
        open ones to end."""
        self.app.state.api.stopping.set()
        self.app.state.api.sessions.close_all()
        self._shutdown.set()
        with trio.move_on_after(DRAIN_S + 0.5):
            await self._done.wait()


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise HttpRefused(
                f"the HTTP port {address}:{port} is in use (another node?): set [http] port "
                "in node.toml"
            ) from None
        raise HttpRefused(f"cannot listen on {address}:{port}: {exc.strerror}") from None
    sock.set_inheritable(False)
    return sock
