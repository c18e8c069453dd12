"""The ``sd`` command group: click parses every command line the front door leaves to it.

Global options go before the command (``sd --json tag list``); ``--json`` is also accepted
after it (``sd tag list --json``).
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import sys
from pathlib import Path

import click

from sdactors.cli.context import CliContext
from sdactors.cli.stops import as_interrupted
from sdactors.runtime import interrupts, logs
from sdactors.runtime.paths import default_data_dir

# Command name -> (module, attribute). A command's module is imported when it runs (or when
# help lists it): ``sd search`` does not load what ``sd volume`` or ``sd log`` need.
COMMANDS = {
    "library": ("sdactors.cli.library_cmds", "group"),
    "location": ("sdactors.cli.location_cmds", "group"),
    "tag": ("sdactors.cli.tag_cmds", "group"),
    "log": ("sdactors.cli.log_cmds", "group"),
    "projections": ("sdactors.cli.projection_cmds", "group"),
    "volume": ("sdactors.cli.volume_cmds", "group"),
    "node": ("sdactors.cli.node_cmds", "group"),
    "debug": ("sdactors.cli.node_cmds", "debug"),
    "ls": ("sdactors.cli.browse_cmds", "ls"),
    "search": ("sdactors.cli.browse_cmds", "search_"),
    "info": ("sdactors.cli.browse_cmds", "info"),
    "duplicates": ("sdactors.cli.browse_cmds", "duplicates_"),
    "stats": ("sdactors.cli.browse_cmds", "stats"),
    "audit": ("sdactors.cli.audit_cmds", "audit"),
    "cp": ("sdactors.cli.file_cmds", "cp"),
    "mv": ("sdactors.cli.file_cmds", "mv"),
    "rm": ("sdactors.cli.file_cmds", "rm"),
    "trash": ("sdactors.cli.trash_cmds", "group"),
    "jobs": ("sdactors.cli.jobs_cmds", "group"),
    "pair": ("sdactors.cli.net_cmds", "pair"),
    "device": ("sdactors.cli.net_cmds", "device"),
    "sync": ("sdactors.cli.net_cmds", "sync"),
    "drop": ("sdactors.cli.drop_cmds", "group"),
    "why": ("sdactors.cli.why_cmds", "why"),
    "thumbs": ("sdactors.cli.media_cmds", "group"),
    "thumb": ("sdactors.cli.media_cmds", "thumb"),
    "favourite": ("sdactors.cli.tag_cmds", "favourite"),
    "note": ("sdactors.cli.tag_cmds", "note"),
    "agent": ("sdactors.cli.agent_cmds", "group"),
    "web": ("sdactors.cli.web_cmds", "web"),
    "api": ("sdactors.cli.web_cmds", "api"),
}


class _Commands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        module, attribute = found
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def invoke(self, ctx: click.Context) -> object:
        # Ctrl-C or SIGTERM: the command's own clean-up has run on the way out (a temporary
        # file removed); closing the context next stops the actors (a running job cancelled,
        # committed batches kept). Then one line, instead of click's "Aborted!".
        try:
            with as_interrupted():
                return super().invoke(ctx)
        except sqlite3.OperationalError:
            interrupts.raise_if_signalled()  # a statement the signal abandoned
            raise


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory [env SD_DATA_DIR; default ~/.local/share/sdactors].",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, as_json: bool, verbose: int) -> None:
    """sdactors: a local-first, event-sourced file index and library."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logs.configure(json=not sys.stderr.isatty(), level=level)
    context = CliContext(data_dir or default_data_dir(), as_json)
    ctx.obj = context
    ctx.call_on_close(context.close)
