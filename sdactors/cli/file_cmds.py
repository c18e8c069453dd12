"""``sd cp``, ``sd mv``, ``sd rm``: file operations inside this device's locations, audited,
the index following at once (see ``sdactors/ops/files.py``); what they put in the trash
comes back with ``sd trash restore`` (``sdactors/cli/trash_cmds.py``)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import for_terminal
from sdactors.ops.files import FileCopy, FileMove, FileRemove
from sdactors.runtime.paths import entry_path

Report = Callable[[dict[str, Any]], None]


@contextmanager
def progress_bar(ctx: CliContext, what: str, entries: bool = False) -> Iterator[Report | None]:
    """A live bar on a terminal (stderr), nothing for scripts and --json: bytes copied, or
    with ``entries`` entries deleted (a deletion frees a folder of small files entry by
    entry, whatever their bytes)."""
    if ctx.out.as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    unit = "files" if entries else "bytes"
    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn() if entries else DownloadColumn(),
        TimeElapsedColumn(),
        console=ctx.out.err,
        transient=True,
    ) as bar:
        task = bar.add_task(for_terminal(what), total=None)

        def update(info: dict[str, Any]) -> None:
            bar.update(
                task,
                description=f"{info.get('phase', '')} {for_terminal(what)}",
                completed=info.get(f"{unit}_done", 0),
                total=info.get(f"{unit}_total") or None,
            )

        yield update


def index_words(index: dict[str, Any]) -> str:
    if "error" in index:
        return f"the index was not updated ({index['error']}): rescan the location"
    return ", ".join(f"{key} {index[key]}" for key in ("created", "modified", "moved", "deleted"))


def _transfer_command(
    name: str, command: type[FileCopy] | type[FileMove], done: str, help: str
) -> click.Command:
    """``sd cp`` and ``sd mv``: the same arguments, options and output."""

    @click.command(name, help=help)
    @click.argument("src")
    @click.argument("dst")
    @click.option(
        "--force", is_flag=True, help="Replace a file at the destination (it goes to the trash)."
    )
    @library_option
    @json_option
    @pass_ctx
    def transfer(ctx: CliContext, src: str, dst: str, force: bool, library: str | None) -> None:
        with progress_bar(ctx, src) as progress:
            result = ctx.execute(
                command(entry_path(src), entry_path(dst), force, library), progress
            )
        how = " (renamed)" if result["how"] == "rename" else " (copied and checked)"
        replaced = result["replaced"]
        kept = "" if replaced is None else f"; the file it replaced is in the trash as {replaced}"
        ctx.out.result(
            result,
            f"{done} {result['source']} to {result['destination']}{how}{kept}; "
            f"index: {index_words(result['index'])}",
        )

    return transfer


cp = _transfer_command(
    "cp",
    FileCopy,
    "copied",
    "Copy SRC (a file or folder) to DST, or into DST if it is a folder; every byte of the "
    "copy is checked with blake3 before it is put in place.",
)
mv = _transfer_command(
    "mv",
    FileMove,
    "moved",
    "Move SRC to DST, or into DST if it is a folder: a rename on one volume; across volumes "
    "a checked copy, then the source is removed (kept, with exit status 1, if it changed "
    "during the copy).",
)


@click.command("rm")
@click.argument("path")
@click.option("--permanent", is_flag=True, help="Delete for good instead of into the trash.")
@library_option
@json_option
@pass_ctx
def rm(ctx: CliContext, path: str, permanent: bool, library: str | None) -> None:
    """Remove PATH (a file, or a folder with everything in it) into the library's trash
    ('sd trash restore' puts it back)."""
    with progress_bar(ctx, path, entries=permanent) as progress:
        result = ctx.execute(FileRemove(entry_path(path), permanent, library), progress)
    where = (
        "deleted for good"
        if result["id"] is None
        else f"in the trash as {result['id']} ('sd trash restore {result['id']}' puts it back)"
    )
    ctx.out.result(
        result, f"removed {result['path']}: {where}; index: {index_words(result['index'])}"
    )
