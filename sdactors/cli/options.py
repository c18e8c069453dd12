"""Options shared by many commands."""

from __future__ import annotations

from typing import Any, Callable

import click

from sdactors.cli.context import CliContext


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Accept ``--json`` after the command too; it sets the same mode as the global flag."""

    def enable(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.find_object(CliContext).out.as_json = True
        return value

    return click.option(
        "--json",
        "_json",
        is_flag=True,
        expose_value=False,
        callback=enable,
        help="Machine-readable JSON output.",
    )(fn)


def library_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--library",
        "-l",
        "library",
        default=None,
        metavar="NAME|ID",
        help="Library to act on (default: the only one).",
    )(fn)


pass_ctx = click.make_pass_decorator(CliContext)


def force_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--force", is_flag=True, help="Replace FILE if it exists.")(fn)
