"""``sd jobs``: durable jobs (indexing, file operations): list, info, pause, resume, cancel."""

from __future__ import annotations

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.reads import progress_text


@click.group("jobs")
def group() -> None:
    """Long work that survives restarts: what runs, what waits, what is held."""


@group.command("list")
@click.option("--all", "all_", is_flag=True, help="Finished jobs too.")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, all_: bool, library: str | None) -> None:
    """Jobs queued, running or paused (and, with --all, finished)."""
    from sdactors.ops.jobs import JobsList

    jobs = ctx.execute(JobsList(all_, library))
    if ctx.out.as_json:
        ctx.out.json(jobs)
        return
    ctx.out.table(
        ["id", "kind", "path", "state", "progress / reason"],
        [
            (
                j["id"][:12],
                j["kind"],
                j["path"] or "",
                j["state"],
                j["reason"] if j["state"] == "paused" else progress_text(j),
            )
            for j in jobs
        ],  # fmt: skip
        "no jobs" + ("" if all_ else " waiting or running (--all for finished ones)"),
    )


@group.command("info")
@click.argument("job")
@library_option
@json_option
@pass_ctx
def info(ctx: CliContext, job: str, library: str | None) -> None:
    """One job: what it does, where it stands, why it waits."""
    from sdactors.ops.jobs import JobInfo

    found = ctx.execute(JobInfo(job, library))
    if ctx.out.as_json:
        ctx.out.json(found)
        return
    for key in ("id", "kind", "path", "state", "reason", "device"):
        if found[key] is not None:
            ctx.out.line(f"{key:<10} {found[key]}")
    if found["params"]:
        ctx.out.line(f"{'params':<10} {found['params']}")
    if found["checkpoint"]:
        ctx.out.line(f"{'checkpoint':<10} {found['checkpoint']}")
    text = progress_text(found)
    if found["progress"] is not None and text:
        ctx.out.line(f"{'progress':<10} {text}")


@group.command("pause")
@click.argument("job")
@library_option
@json_option
@pass_ctx
def pause(ctx: CliContext, job: str, library: str | None) -> None:
    """Pause JOB at its next batch boundary (what it committed stays)."""
    from sdactors.ops.jobs import JobPause

    result = ctx.execute(JobPause(job, library))
    ctx.out.result(result, f"job {result['id'][:12]}: {result['state']}")


@group.command("resume")
@click.argument("job")
@click.option(
    "--confirm", is_flag=True, help="Let a held rescan delete what is gone from the disk."
)
@library_option
@json_option
@pass_ctx
def resume(ctx: CliContext, job: str, confirm: bool, library: str | None) -> None:
    """Resume a paused JOB (by the node in the background; without a node, here)."""
    from sdactors.ops.jobs import JobResume

    result = ctx.execute(JobResume(job, confirm, library))
    ctx.out.result(result, f"job {result['id'][:12]}: {result['state']}")


@group.command("cancel")
@click.argument("job")
@library_option
@json_option
@pass_ctx
def cancel(ctx: CliContext, job: str, library: str | None) -> None:
    """Cancel JOB (what it committed stays in the index)."""
    from sdactors.ops.jobs import JobCancel

    result = ctx.execute(JobCancel(job, library))
    ctx.out.result(result, f"job {result['id'][:12]}: {result['state']}")
