"""The front door of ``sd``: the reads a running node answers, asked without click.

``sd search``, ``sd ls``, ``sd stats`` and ``sd node status`` are what people and scripts
run most and wait on, and the node answers them in a few milliseconds; through click and
the command modules, starting the interpreter took longer than the answer. A command line
made only of what this door knows (one of those commands, the options they share, each in
a form click reads the same way, and a node serving the data directory) is read here and
sent to the node over its socket, and the answer printed by the same ``reads`` functions as
the click commands print it. Anything else goes to click, which stays the parser of the CLI
as a whole: help, any other command, an option or a form not listed here, a value click
would refuse (it says why), no node running (the command runs in this process).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, NamedTuple, NoReturn, TextIO, cast

from sdactors.cli import reads
from sdactors.cli.output import Output
from sdactors.cli.stops import as_interrupted
from sdactors.indexer.kind_names import KINDS
from sdactors.node.control.client import connect
from sdactors.runtime.paths import DataDir, default_data_dir

# SD_FRONT_DOOR=0: every command line goes to click (to compare the two ways in, or to rule
# this door out when something looks wrong).
OPEN_ENV = "SD_FRONT_DOOR"


class Grammar(NamedTuple):
    """A command's arguments (in order, the first ``required`` of them needed), its options
    that take a value (each spelling -> the parameter it sets), the function that runs it,
    the values of parameters not given (None when not listed), its flags (each spelling
    -> the parameter it sets true, false when not given) and its options that take a value
    each time they are given (``multiple``: the values in order, a tuple)."""

    arguments: tuple[str, ...]
    required: int
    options: dict[str, str]
    run: Callable[..., None]
    defaults: dict[str, Any] = {}
    flags: dict[str, str] = {}
    multiple: frozenset[str] = frozenset()


_READ_OPTIONS = {"--at": "at", "--library": "library", "-l": "library"}
GRAMMARS: dict[tuple[str, ...], Grammar] = {
    ("ls",): Grammar(("path",), 0, _READ_OPTIONS, reads.ls),
    ("search",): Grammar(
        ("query",),
        # Without a query, the op says what else it needs (a filter), as through click.
        0,
        {"--kind": "kind", "--ext": "ext", "--under": "under", "--limit": "limit"}
        | {"--taken": "taken", "--camera": "camera", "--sort": "sort"}
        | {"--min-width": "min_width", "--min-height": "min_height"}
        | {"--tag": "tags", "--mode": "mode"}
        | {"--taken-after": "taken_after", "--taken-before": "taken_before"}
        | {"--modified-after": "modified_after", "--modified-before": "modified_before"}
        | _READ_OPTIONS,
        reads.search,
        {"limit": reads.SEARCH_LIMIT, "tags": ()},
        {"--reverse": "reverse", "--favourite": "favourite"},
        frozenset({"tags"}),
    ),
    ("stats",): Grammar((), 0, _READ_OPTIONS, reads.stats),
    ("node", "status"): Grammar((), 0, {}, reads.node_status),
}


class Asked(NamedTuple):
    """A command line as the door read it: the command's parameters by name."""

    data_dir: str | None
    as_json: bool
    grammar: Grammar
    values: dict[str, Any]


def parse(args: list[str]) -> Asked | None:
    """What the command line asks, read as click reads it; None if it is not all known here."""
    data_dir, as_json, i = None, False, 0
    # The group's options, up to the command's name.
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg == "--json":
            as_json, i = True, i + 1
        elif arg == "--data-dir" and i + 1 < len(args):
            data_dir, i = args[i + 1], i + 2
        elif arg.startswith("--data-dir="):
            data_dir, i = arg.removeprefix("--data-dir="), i + 1
        else:
            return None
    if data_dir is not None and not _a_data_dir(data_dir):
        return None
    words = tuple(args[i : i + 2])
    found = GRAMMARS.get(words[:1]) or GRAMMARS.get(words)
    if found is None:
        return None
    grammar, rest = found, args[i + (1 if words[:1] in GRAMMARS else 2) :]
    values: dict[str, Any] = {}
    arguments: list[str] = []
    j, only_arguments = 0, False
    while j < len(rest):
        arg = rest[j]
        j += 1
        if only_arguments or arg == "-" or not arg.startswith("-"):
            arguments.append(arg)
        elif arg == "--":
            only_arguments = True
        elif arg == "--json":
            as_json = True
        elif arg in grammar.flags:
            values[grammar.flags[arg]] = True
        elif arg in grammar.options and j < len(rest):
            # click takes the next word as the value, whatever it looks like.
            _set(grammar, values, grammar.options[arg], rest[j])
            j += 1
        elif arg.startswith("--") and "=" in arg and arg.partition("=")[0] in grammar.options:
            name, _, value = arg.partition("=")
            _set(grammar, values, grammar.options[name], value)
        else:
            return None
    if not grammar.required <= len(arguments) <= len(grammar.arguments):
        return None
    values |= dict(zip(grammar.arguments, arguments))
    return _checked(Asked(data_dir, as_json, grammar, values))


def _set(grammar: Grammar, values: dict[str, Any], parameter: str, value: str) -> None:
    """An option's value: the last one given, or each one in turn (``multiple``)."""
    if parameter in grammar.multiple:
        values[parameter] = (*values.get(parameter, ()), value)
    else:
        values[parameter] = value


def _a_data_dir(path: str) -> bool:
    """A --data-dir that click.Path(file_okay=False) takes as it is: a readable folder (one
    that is missing has no node to answer anyway)."""
    return bool(path) and os.path.isdir(path) and os.access(path, os.R_OK)


def _checked(asked: Asked) -> Asked | None:
    """The values with click's types: None if one is not what click would take unchanged."""
    values = asked.values
    if "kind" in values and values["kind"] not in KINDS:
        return None
    if "sort" in values and values["sort"] not in reads.SORTS:
        return None
    if "mode" in values and values["mode"] not in reads.MODES:
        return None
    for name, most in _COUNTS.items():
        if name in values:
            number = values[name]
            # What click's IntRange takes unchanged: digits, from 1 to the most.
            if not (number.isascii() and number.isdigit() and 1 <= int(number) <= most):
                return None
            values[name] = int(number)
    grammar = asked.grammar
    every = (*grammar.arguments, *grammar.options.values())
    return asked._replace(
        values={k: values.get(k, grammar.defaults.get(k)) for k in every}
        | {flag: values.get(flag, False) for flag in grammar.flags.values()}
    )


# Options whose value is a count, with the most each takes.
_COUNTS = {
    "limit": reads.SEARCH_LIMIT_MOST,
    "min_width": reads.DIMENSION_MOST,
    "min_height": reads.DIMENSION_MOST,
}


def answer(args: list[str]) -> int | None:
    """Run the command through the node if this door knows it all; None to leave it to click
    (nothing printed, nothing asked)."""
    asked = None if os.environ.get(OPEN_ENV) == "0" else parse(args)
    if asked is None:
        return None
    with as_interrupted():
        client = connect(DataDir(asked.data_dir or default_data_dir()).root)
        if client is None:
            return None  # no node: the command runs in this process, through click
        try:
            call = lambda op, **arguments: client.call(op, arguments)  # noqa: E731
            asked.grammar.run(call, Output(asked.as_json), **asked.values)
        except BrokenPipeError:
            _reader_gone()
        finally:
            client.close()
    return 0


def _reader_gone() -> NoReturn:
    """What click does when the output's reader went away (``sd search x | head -1``): exit
    status 1, and nothing said, not even by the flush on the way out."""
    from click.utils import PacifyFlushWrapper

    sys.stdout = cast(TextIO, PacifyFlushWrapper(sys.stdout))
    sys.stderr = cast(TextIO, PacifyFlushWrapper(sys.stderr))
    sys.exit(1)
