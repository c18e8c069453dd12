"""The GraphQL schema, generated from the op registry: every op is a query (it changes
nothing: ``access.READS``, the list read-only keys are held to) or a mutation (everything
else, ``writes`` ops included), unless :data:`EXCLUDED` says why not. A query or mutation
field is named after its op (``tag.list`` -> ``tag_list``), takes the op's arguments and
returns its result, typed from the shapes the op declares (``types.py``). A new read op is a
query once it is listed in ``access.READS``; a new op of any other kind is a mutation.

Every field runs its op the way the control socket and ``POST /api/v1/op/{name}`` run it:
the arguments converted as the JSON API converts them and checked by the op's declared
shapes (``args.command_of``), the caller's rights checked per op (``Principal.refusal``),
then ``host.execute`` (writes through the ActionManager: validated and audited). A document
runs in one worker thread, its fields one after the other (:class:`Caller`).

Subscriptions: ``events`` (the log from a position on, then live, with the bus's type
filter) and ``job`` (one job's progress until it ends), served by ``transport_ws.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
from functools import lru_cache
from typing import Any, AsyncIterator, Callable, Optional

import strawberry
import trio
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info
from strawberry.types.graphql import OperationType

from events.shapes import Shape, Struct, declared_shape
from projections.jobs import FINISHED
from sdactors.node.http import access
from sdactors.node.http.args import command_of
from sdactors.node.http.codes import http_failure
from sdactors.node.http.graphql.types import (
    EVENT,
    JOB_SHOWN,
    LONG,
    Long,
    Types,
    as_json,
    camel,
    records_as_lists,
)
from sdactors.ops import registry  # noqa: F401 - every command registered
from sdactors.ops.base import Op, command_class, commands
from sdactors.ops.shapes import AT
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.plain import jsonable

# Ops that change nothing but that read-only keys may not run (they show who may come in).
QUIET = frozenset({"api.key.list"})
# Ops not in the schema, and why.
EXCLUDED: dict[str, str] = {
    "debug.crash": "crashes one of the node's actors on purpose: a tool of the tests",
}
# Arguments GraphQL does not take, and the value it runs the op with: a program gets the JSON
# form (``text`` is for people), and follows the log through the ``events`` subscription.
FIXED: dict[str, Any] = {"form": "json", "follow": False}
# A streaming op (``log.show``) answers at most this many items in one result.
MOST_ITEMS = 10_000
# What runs as one answer (a subscription is the websocket's).
QUERY_OR_MUTATION = {OperationType.QUERY, OperationType.MUTATION}
# Aliases one document may hold: each field may run an op, and a document runs in one thread.
MOST_ALIASES = 64
# How often the ``job`` subscription looks at its job (the progress a node keeps between
# checkpoints is status, not events).
JOB_EVERY_S = 0.2


def kind_of(name: str) -> str:
    """``query``, ``mutation`` or ``excluded``: where an op is in the schema."""
    if name in EXCLUDED:
        return "excluded"
    return "query" if name in access.READS or name in QUIET else "mutation"


def field_name(op_name: str) -> str:
    return op_name.replace(".", "_")


Execute = Callable[[Op, Any], Any]
Follow = Callable[[Optional[str], tuple[str, ...], Optional[int]], AsyncIterator[dict[str, Any]]]


@dataclasses.dataclass
class Caller:
    """Who runs a document, and how its ops run: in the worker thread executing it
    (``execute`` blocks), except the subscriptions' sources, which are trio's."""

    execute: Execute
    refusal: Callable[[str], Optional[str]]
    # A library's events past a position (None: from now), then live (subscriptions only).
    follow: Follow | None = None

    def run(self, name: str, given: dict[str, Any]) -> Any:
        """Run the op ``name`` with the arguments GraphQL gave (in a worker thread)."""
        why = self.refusal(name)
        if why is not None:
            raise GraphQLError(why, extensions={"code": "forbidden"})
        cls = command_class(name)
        try:
            command = command_of(name, given)
            if cls.stream is None:
                return jsonable(self.execute(command, None))
            items = _Items()
            result = self.execute(command, items)
            return jsonable({**result, "items": items.items})
        except Exception as exc:  # noqa: BLE001 - every failure is the client's answer
            _status, code, message = http_failure(exc)
            raise GraphQLError(message, extensions={"code": code}) from exc

    def position(self, at: str | None, library: str | None) -> int | None:
        """The position ``at`` names (a position or a time), as ``--at`` reads it."""
        if at is None:
            return None
        moment = self.run("log.moment", {"at": at, "library": library})
        position: int = moment["position"]
        return position


class _Items:
    """A streaming op's frames, gathered into one answer."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, info: dict[str, Any]) -> None:
        self.items.extend(info.get("items", ()))
        if len(self.items) > MOST_ITEMS:
            # Raising from a frame ends the op, as a client gone away does.
            raise InvalidArgument(f"more than {MOST_ITEMS} events: give a limit")


def _result_shape(cls: type[Op]) -> Shape:
    """What the field answers: the op's result, and for a streaming op its items too."""
    if cls.stream is None:
        return cls.result
    assert isinstance(cls.result, Struct) and isinstance(cls.stream, Struct)
    return Struct(cls.result.fields + cls.stream.fields)


def _field(types: Types, name: str) -> Any:
    """The query or mutation field of the op ``name``."""
    cls = command_class(name)
    shape = declared_shape(cls)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    params = [inspect.Parameter("info", inspect.Parameter.KEYWORD_ONLY, annotation=Info)]
    declared: dict[str, Shape] = {}
    for arg, arg_shape in shape.fields:
        if arg in FIXED:
            continue
        declared[arg] = arg_shape
        # A position, or a time as ``--at`` takes it (turned into a position by log.moment).
        kind = (
            Optional[str] if arg_shape == AT else types.input(arg_shape, camel(name) + camel(arg))
        )
        default = defaults[arg]
        params.append(
            inspect.Parameter(
                arg,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=kind,
                default=inspect.Parameter.empty if default is dataclasses.MISSING else default,
            )
        )
    fixed = {arg: FIXED[arg] for arg, _ in shape.fields if arg in FIXED}
    returns = types.output(_result_shape(cls), camel(name) + "Result", json_form="form" in fixed)

    def resolve(info: Info, **given: Any) -> Any:
        caller: Caller = info.context
        args = {k: records_as_lists(declared[k], as_json(v)) for k, v in given.items()}
        if "at" in args and declared["at"] == AT:
            args["at"] = caller.position(args["at"], args.get("library"))
        return caller.run(name, {**args, **fixed})

    resolve.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    resolve.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    resolve.__name__ = field_name(name)
    resolve.__doc__ = cls.__doc__
    return strawberry.field(resolver=resolve, name=field_name(name), description=_doc(cls))


def _doc(cls: type) -> str | None:
    """The op's docstring (not the one dataclasses makes up from its fields)."""
    doc = inspect.getdoc(cls)
    return None if not doc or doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())


# -- subscriptions ---------------------------------------------------------------------------


def _subscription(types: Types) -> Any:
    event = types.output(EVENT, "Event")
    job = types.output(JOB_SHOWN, "Job")

    async def events(
        info: Info,
        types: list[str] | None = None,
        library: Optional[str] = None,
        after: Optional[Long] = None,  # type: ignore[valid-type]
    ) -> AsyncIterator[Any]:
        """The library's events past ``after`` (none given: from now on), then each as it
        is committed; ``types``: type prefixes (``entries.``, ``tag.``), as the bus filters.
        Each is what ``sd log tail --json`` prints of it."""
        caller: Caller = info.context
        why = caller.refusal("log.tail")
        if why is not None:
            raise GraphQLError(why, extensions={"code": "forbidden"})
        assert caller.follow is not None
        async for one in caller.follow(library, tuple(types or ()), after):
            yield one

    async def job_progress(
        info: Info, job: str, library: Optional[str] = None
    ) -> AsyncIterator[Any]:
        """One job as ``jobs_info`` shows it, each time it changes (its progress between
        checkpoints included), until it has ended."""
        caller: Caller = info.context
        last = None
        while True:
            now = await trio.to_thread.run_sync(
                caller.run, "jobs.info", {"job": job, "library": library}
            )
            if now != last:
                yield now
                last = now
            if now["state"] in FINISHED and now["progress"] is None:
                return
            await trio.sleep(JOB_EVERY_S)

    events.__annotations__["return"] = AsyncIterator[event]  # type: ignore[valid-type]
    job_progress.__annotations__["return"] = AsyncIterator[job]  # type: ignore[valid-type]
    fields = {
        "events": strawberry.subscription(resolver=events, description=_doc_of(events)),
        "job": strawberry.subscription(
            resolver=job_progress, name="job", description=_doc_of(job_progress)
        ),
    }
    return strawberry.type(type("Subscription", (), fields))


def _doc_of(fn: Callable[..., Any]) -> str | None:
    return " ".join(fn.__doc__.split()) if fn.__doc__ else None


# -- the schema --------------------------------------------------------------------------------


class _Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Nothing to log: a failed op is its client's answer, and a bug among them is
        logged where it is told (``sdactors.node.failures``)."""


@lru_cache(maxsize=1)
def schema() -> strawberry.Schema:
    """The schema (made once per process: the registry does not change while it runs)."""
    types = Types()
    kinds: dict[str, dict[str, Any]] = {"query": {}, "mutation": {}}
    for name in commands():
        kind = kind_of(name)
        if kind != "excluded":
            kinds[kind][field_name(name)] = _field(types, name)
    made = _Schema(
        query=strawberry.type(type("Query", (), kinds["query"])),
        mutation=strawberry.type(type("Mutation", (), kinds["mutation"])),
        subscription=_subscription(types),
        config=StrawberryConfig(auto_camel_case=False, scalar_map={Long: LONG}),
        extensions=[
            lambda: ParserCache(maxsize=256),
            lambda: MaxAliasesLimiter(max_alias_count=MOST_ALIASES),
            lambda: ValidationCache(maxsize=256),
        ],
    )
    # A result's fields are read by graphql-core itself (a map's key: its default resolver),
    # not through strawberry's wrapper of each field: a search of 100 hits with ten fields
    # each is a thousand reads, which the wrapper made four times as slow.
    for name in types.object_names():
        for field in made._schema.type_map[name].fields.values():  # type: ignore[union-attr]
            field.resolve = None
    return made
