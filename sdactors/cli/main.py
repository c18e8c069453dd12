"""``sd``: the command line of sdactors.

Global options go before the command (``sd --json tag list``); ``--json`` is also accepted
after it (``sd tag list --json``). Every error is one line on stderr (and a JSON object with
``error`` on stdout under ``--json``), exit status 1.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sqlite3
import sys
from pathlib import Path

import click

from events.errors import EventsError
from projections.errors import ProjectionError
from sdactors.cli.context import CliContext
from sdactors.cli.output import Output
from sdactors.runtime import interrupts, logs
from sdactors.runtime import tuning as runtime
from sdactors.runtime.errors import Interrupted, SdError
from sdactors.runtime.paths import default_data_dir

EXPECTED_ERRORS = (SdError, EventsError, ProjectionError, OSError, sqlite3.DatabaseError)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C is, so it stops a command the same way."""


def _on_sigterm(signum: int, _frame: object) -> None:
    interrupts.note(signum)
    raise _Terminated()


def _on_sigint(signum: int, _frame: object) -> None:
    interrupts.note(signum)
    raise KeyboardInterrupt()


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
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            signum = signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT
            raise Interrupted(signum) from None
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


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def main(argv: list[str] | None = None) -> None:
    runtime.tune_for_throughput()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigint)
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


def run(args: list[str]) -> int:
    """Run one command and return its exit status, every error reported as one line.

    ``main`` is this plus the process's own settings (signals, the collector); the test
    suite calls it directly to run a command without starting an interpreter."""
    out = Output(_wants_json(args))
    try:
        # Without standalone mode click *returns* the code of a ``click.exceptions.Exit``
        # raised by a command (``sd log verify`` finding problems) instead of raising it.
        code = cli.main(args=args, prog_name="sd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        out.error("aborted")
        return 1
    except click.ClickException as exc:
        out.error(exc.format_message())
        return 1
    except Interrupted as exc:
        out.error(str(exc))
        return 128 + exc.signum
    except EXPECTED_ERRORS as exc:
        out.error(str(exc) or type(exc).__name__)
        return 1
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error is reported
        if os.environ.get("SD_DEBUG"):
            raise
        out.error(f"internal error: {type(exc).__name__}: {exc} (set SD_DEBUG=1 for a traceback)")
        return 1
    return code if isinstance(code, int) else 0
