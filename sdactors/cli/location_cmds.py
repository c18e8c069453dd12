"""``sd location``: folders this device indexes, and their indexer rules."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import for_terminal, offline_mark
from sdactors.runtime.paths import show, user_path
from sdactors.runtime.private_files import open_private
from sdactors.runtime.units import human_bytes


@click.group("location")
def group() -> None:
    """Folders this device indexes."""


@contextmanager
def _progress(ctx: CliContext, path: str) -> Iterator[Callable[[dict], None] | None]:
    """A live line on a terminal (stderr), nothing for scripts and --json."""
    if ctx.out.as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=ctx.out.err,
        transient=True,
    ) as bar:
        shown = for_terminal(path)
        task = bar.add_task(f"indexing {shown}")

        def update(stats: dict) -> None:
            from sdactors.cli.reads import progress_text

            live = stats.get("progress")
            bar.update(
                task,
                description=(
                    f"indexing {shown}: {stats['files']:,} files, {stats['dirs']:,} folders"
                    + (f"; {progress_text({'progress': live})}" if live else "")
                ),
            )

        yield update


def _summary(result: dict) -> str:
    text = (
        f"{result['path']}: {result['files']:,} files, {result['dirs']:,} folders, "
        f"{human_bytes(result['bytes'])} in {result['seconds']:.1f} s; created "
        f"{result['created']:,}, modified {result['modified']:,}, moved {result['moved']:,}, "
        f"deleted {result['deleted']:,}"
    )
    if result["errors"]:
        samples = result.get("error_samples") or ["?"]
        text += f"; {result['errors']} could not be read ({samples[0]}"
        text += ", ...)" if result["errors"] > 1 else ")"
    return text


def _rules_options(fn: Callable) -> Callable:
    for option in reversed(
        [
            click.option(
                "--hidden/--no-hidden",
                "hidden",
                default=None,
                help="Index hidden files (default: yes).",
            ),
            click.option(
                "--gitignore/--no-gitignore",
                default=None,
                help="Honour .gitignore inside git repositories (default: yes).",
            ),
            click.option(
                "--system/--no-system",
                "system",
                default=None,
                help="Index system files such as .DS_Store (default: no).",
            ),
            click.option(
                "--dev/--no-dev",
                "dev",
                default=None,
                help="Index dev folders such as node_modules (default: no).",
            ),
            click.option(
                "--git-internals/--no-git-internals",
                "git",
                default=None,
                help="Index the inside of .git folders (default: no).",
            ),
            click.option(
                "--exclude",
                multiple=True,
                metavar="PATTERN",
                help="Skip paths matching this gitignore-style pattern (repeatable).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@group.command("add")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--name", default=None, help="A name for it (default: the folder's name).")
@click.option("--no-wait", is_flag=True, help="Return at once; index in the background.")
@_rules_options
@library_option
@json_option
@pass_ctx
def add(
    ctx: CliContext,
    path: str,
    name: str | None,
    no_wait: bool,
    hidden: bool | None,
    gitignore: bool | None,
    system: bool | None,
    dev: bool | None,
    git: bool | None,
    exclude: tuple[str, ...],
    library: str | None,
) -> None:
    """Add the folder PATH and index it (adding it again resumes or refreshes its index)."""
    from sdactors.ops.locations import NONE, QUEUE, WAIT, LocationAdd

    serving = ctx.node_serves()
    then = WAIT if not no_wait else QUEUE if serving else NONE
    command = LocationAdd(
        user_path(path), name, then, hidden, gitignore, system, dev, git, exclude,
        library=library,
    )  # fmt: skip
    if then != WAIT:
        result = ctx.execute(command)
        if then == QUEUE:
            ctx.out.result(result, f"added {result['path']}; the node indexes it (sd jobs list)")
            return
        ctx.close()  # release the library for the background indexer
        pid = _index_in_background(ctx, result["id"], library)
        ctx.out.result(
            {**result, "background_pid": pid},
            f"added {result['path']}; indexing in the background (process {pid})",
        )
        return
    with _progress(ctx, show(user_path(path))) as progress:
        result = ctx.execute(command, progress)
    ctx.out.result(result, _summary(result))


def _index_in_background(ctx: CliContext, location: str, library: str | None) -> int:
    log_path = os.path.join(os.fsdecode(ctx.find(library).paths.root), "background.log")
    args = [
        sys.executable,
        "-m",
        "sdactors",
        "--data-dir",
        str(ctx.data.root),
        "location",
        "rescan",
        location,
    ]
    if library:
        args += ["--library", library]
    log_fd = open_private(Path(log_path), os.O_WRONLY | os.O_APPEND, create=True)
    try:
        child = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
        )
    finally:
        os.close(log_fd)
    return child.pid


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """List the locations of the library (of every device)."""
    from sdactors.ops.locations import LocationList

    locs = ctx.execute(LocationList(library))
    if ctx.out.as_json:
        ctx.out.json(locs)
        return
    ctx.out.table(
        ["name", "path", "id", "device"],
        [
            (
                loc["name"],
                loc["path"] + offline_mark(loc["offline"]),
                loc["id"][:12],
                loc["device"][:10],
            )
            for loc in locs
        ],  # fmt: skip
        "no locations: add one with 'sd location add PATH'",
    )


@group.command("rescan")
@click.argument("location")
@click.option(
    "--folder",
    "folders",
    multiple=True,
    metavar="PATH",
    help="Rescan only this folder of the location and what is new or changed below it "
    "(repeatable).",
)
@click.option(
    "--confirm-deletions",
    is_flag=True,
    help="Go ahead even if the rescan deletes more than half of the location.",
)
@library_option
@json_option
@pass_ctx
def rescan(
    ctx: CliContext,
    location: str,
    folders: tuple[str, ...],
    confirm_deletions: bool,
    library: str | None,
) -> None:
    """Bring the index of LOCATION (a path, id or name) up to date with the disk."""
    from sdactors.ops.locations import LocationRescan

    command = LocationRescan(
        os.fsencode(location), tuple(user_path(f) for f in folders), confirm_deletions, library
    )
    with _progress(ctx, location) as progress:
        result = ctx.execute(command, progress)
    ctx.out.result(result, _summary(result))


@group.command("remove")
@click.argument("location")
@library_option
@json_option
@pass_ctx
def remove(ctx: CliContext, location: str, library: str | None) -> None:
    """Remove LOCATION from the index (its files stay on disk)."""
    from sdactors.ops.locations import LocationRemove

    result = ctx.execute(LocationRemove(os.fsencode(location), library))
    ctx.out.result(result, f"removed {result['path']} from the index (the files stay)")


@group.command("rules")
@click.argument("location")
@_rules_options
@click.option("--clear-excludes", is_flag=True, help="Drop every --exclude pattern first.")
@library_option
@json_option
@pass_ctx
def rules(
    ctx: CliContext,
    location: str,
    hidden: bool | None,
    gitignore: bool | None,
    system: bool | None,
    dev: bool | None,
    git: bool | None,
    exclude: tuple[str, ...],
    clear_excludes: bool,
    library: str | None,
) -> None:
    """Show or change what indexing LOCATION skips (applied at its next rescan)."""
    from sdactors.ops.locations import LocationRules

    result = ctx.execute(
        LocationRules(os.fsencode(location), hidden, gitignore, system, dev, git, exclude, clear_excludes,
                      library)
    )  # fmt: skip
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    for key, value in result["rules"].items():
        ctx.out.line(f"{key:<12} {value}")
    if result["changed"]:
        ctx.out.line(f"rules changed: run 'sd location rescan {result['path']}' to apply them")
