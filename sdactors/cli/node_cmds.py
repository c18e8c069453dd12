"""``sd node``: run the long-lived node of a data directory, see what it does, install it."""

from __future__ import annotations

import logging
import shutil
import sys

import click

from sdactors.cli import reads
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.runtime.errors import NodeNotRunning


@click.group("node")
def group() -> None:
    """The node: one process that serves every library of the data directory."""


@group.command("run")
@click.option("-v", "--verbose", count=True, help="Log more on the terminal (-v info, -vv debug).")
@pass_ctx
def run(ctx: CliContext, verbose: int) -> None:
    """Run the node in the foreground until Ctrl-C or SIGTERM (what a service manager runs).

    It logs JSON lines to <data>/logs/node.log (rotated) and readable lines on a terminal.
    """
    from sdactors.node import process as node_process
    from sdactors.runtime import logs
    from sdactors.runtime.log_file import node_log_handler

    level = logging.INFO if verbose == 0 else logging.DEBUG
    logs.configure(
        json=not sys.stderr.isatty(),
        level=level,
        file=node_log_handler(str(ctx.data.root / "logs" / "node.log")),
    )
    code = node_process.run(ctx.data.root)
    raise click.exceptions.Exit(code)


@group.command("status")
@json_option
@pass_ctx
def status(ctx: CliContext) -> None:
    """What the running node is doing (exit 1 if no node runs)."""
    from sdactors.node.control.client import connect

    client = connect(ctx.data.root)
    if client is None:
        raise NodeNotRunning(str(ctx.data.root))
    try:
        reads.node_status(lambda op, **args: client.call(op, args), ctx.out)
    finally:
        client.close()


@group.command("service")
@pass_ctx
def service(ctx: CliContext) -> None:
    """Print a systemd unit that runs this node for this installation (and how to use it)."""
    sd = shutil.which("sd") or f"{sys.executable} -m sdactors"
    ctx.out.raw(
        "[Unit]\n"
        "Description=sdactors node\n"
        "After=local-fs.target network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={sd} --data-dir {ctx.data.root} node run\n"
        "Restart=on-failure\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=15\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


@click.group("debug", hidden=True)
def debug() -> None:
    """Fault injection for tests of a running node (SD_INJECT_FAULTS=1 in its environment)."""


@debug.command("crash")
@click.argument("actor")
@library_option
@json_option
@pass_ctx
def crash(ctx: CliContext, actor: str, library: str | None) -> None:
    """Make ACTOR (journal, projector, jobs, bus) of a library raise."""
    result = ctx.call("debug.crash", actor=actor, library=library)
    ctx.out.result(result, f"told {actor} to crash")
