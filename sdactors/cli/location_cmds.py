"""``sd location``: folders this device indexes, and their indexer rules."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

import click

from sdactors.actions.locations import (
    Location,
    add_location,
    change_rules,
    find_location,
    index_location,
    list_locations,
    remove_location,
    show,
)
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import for_terminal, human_bytes, offline_mark

if TYPE_CHECKING:
    from sdactors.indexer.job import JobStats
from sdactors.indexer.rules import Rules


@click.group("location")
def group() -> None:
    """Folders this device indexes."""


@contextmanager
def _progress(ctx: CliContext, path: bytes) -> Iterator[Callable[[JobStats], None] | None]:
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
        shown = for_terminal(show(path))
        task = bar.add_task(f"indexing {shown}")

        def update(stats: JobStats) -> None:
            bar.update(
                task,
                description=(
                    f"indexing {shown}: {stats.files:,} files, {stats.dirs:,} folders, "
                    f"{human_bytes(stats.bytes)}"
                ),
            )

        yield update


def _job_result(location: Location, stats: JobStats) -> dict:
    return {
        "id": location.id.hex(),
        "path": show(location.path),
        "name": location.name,
        **stats.as_dict(),
    }


def _summary(location: Location, stats: JobStats) -> str:
    text = (
        f"{show(location.path)}: {stats.files:,} files, {stats.dirs:,} folders, "
        f"{human_bytes(stats.bytes)} in {stats.seconds:.1f} s; created {stats.created:,}, "
        f"modified {stats.modified:,}, moved {stats.moved:,}, deleted {stats.deleted:,}"
    )
    if stats.errors:
        text += f"; {stats.errors} could not be read ({stats.error_samples[0]}"
        text += ", ...)" if stats.errors > 1 else ")"
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


def _apply(
    rules: Rules,
    hidden: bool | None,
    gitignore: bool | None,
    system: bool | None,
    dev: bool | None,
    git: bool | None,
    exclude: tuple[str, ...],
    clear: bool = False,
) -> Rules:
    excludes = () if clear else rules.exclude
    excludes = tuple(dict.fromkeys([*excludes, *exclude]))
    return rules.changed(
        skip_hidden=None if hidden is None else not hidden,
        gitignore=gitignore,
        skip_system=None if system is None else not system,
        skip_dev=None if dev is None else not dev,
        skip_git=None if git is None else not git,
        exclude=excludes,
    )


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
    lib = ctx.write_library(library)
    rules = _apply(Rules(), hidden, gitignore, system, dev, git, exclude)
    location, _new = add_location(lib, path, name, rules)
    if no_wait:
        ctx.close()  # release the library for the background indexer
        pid = _index_in_background(ctx, location, library)
        ctx.out.result(
            {
                "id": location.id.hex(),
                "path": show(location.path),
                "name": location.name,
                "background_pid": pid,
            },
            f"added {show(location.path)}; indexing in the background (process {pid})",
        )
        return
    with _progress(ctx, location.path) as progress:
        stats = index_location(lib, location, progress)
    ctx.out.result(_job_result(location, stats), _summary(location, stats))


def _index_in_background(ctx: CliContext, location: Location, library: str | None) -> int:
    log_path = os.path.join(os.fsdecode(ctx.find(library).paths.root), "background.log")
    args = [
        sys.executable,
        "-m",
        "sdactors",
        "--data-dir",
        str(ctx.data.root),
        "location",
        "rescan",
        location.id.hex(),
    ]
    if library:
        args += ["--library", library]
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    return child.pid


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """List the locations of the library (of every device)."""
    locs = list_locations(ctx.read_library(library))
    if ctx.out.as_json:
        ctx.out.json([loc.as_json() for loc in locs])
        return
    ctx.out.table(
        ["name", "path", "id", "device"],
        [
            (
                loc.name,
                show(loc.path) + offline_mark(loc.offline is not None),
                loc.id.hex()[:12],
                loc.device.hex()[:10],
            )
            for loc in locs
        ],
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
    lib = ctx.write_library(library)
    loc = find_location(lib, location, lib.device)
    with _progress(ctx, loc.path) as progress:
        stats = index_location(lib, loc, progress, folders or None, confirm_deletions)
    ctx.out.result(_job_result(loc, stats), _summary(loc, stats))


@group.command("remove")
@click.argument("location")
@library_option
@json_option
@pass_ctx
def remove(ctx: CliContext, location: str, library: str | None) -> None:
    """Remove LOCATION from the index (its files stay on disk)."""
    lib = ctx.write_library(library)
    loc = find_location(lib, location, lib.device)
    remove_location(lib, loc)
    ctx.out.result(
        {"id": loc.id.hex(), "path": show(loc.path), "removed": True},
        f"removed {show(loc.path)} from the index (the files stay)",
    )


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
    lib = ctx.write_library(library)
    loc = find_location(lib, location, lib.device)
    new_rules = _apply(loc.rules, hidden, gitignore, system, dev, git, exclude, clear_excludes)
    changed = new_rules != loc.rules
    loc = change_rules(lib, loc, new_rules)
    if ctx.out.as_json:
        ctx.out.json({**loc.as_json(), "changed": changed})
        return
    for key, value in loc.rules.as_dict().items():
        ctx.out.line(f"{key:<12} {value}")
    if changed:
        ctx.out.line(f"rules changed: run 'sd location rescan {show(loc.path)}' to apply them")
