"""``sd agent``: the agents, their grants, and their proposals: list, preview, accept,
reject.

Accepting runs the chosen items on the device that owns the files (a proposal's device: an
agent proposes only about its own device's files). Accepted there, the command runs them
itself, each through the ActionManager's audited path with the proposal's id, then records
how each ended (``agent.applied``). Accepted on another device, it records the decision
only; the owning device's AgentManager runs the items when the decision reaches it
(``sdactors.agent.manager``) and records the outcome, which every device then shows.

Grants and switches are written by admins only (membership facts: anyone else's would be
ignored by every device, so a member is told so before anything is written).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

from events.domain.agents import (
    AGENT,
    ITEMS_MAX,
    AgentApplied,
    AgentDecided,
    AgentEnabled,
    AgentGranted,
    AgentGrantRevoked,
)
from events.shapes import Bool, Int, ListOf, Maybe, Text
from projections.agents import ProposalRow, proposal, proposals, proposals_by_prefix
from projections.devices import device_names
from projections.files.query import location_for_path, locations, resolve, tree_under
from projections.membership import agent_grant, agents_enabled
from projections.tags import live_tags
from sdactors.agent.builtin import BUILTIN
from sdactors.agent.grants import Touches
from sdactors.agent.manager import run_agents
from sdactors.agent.positions import Positions
from sdactors.ops import annotations, files  # noqa: F401 - registers what agents may propose
from sdactors.ops.action_manager import run_audited
from sdactors.ops.audit import when as _when
from sdactors.ops.base import Op, OpContext, decode_given, op
from sdactors.ops.network import require_admin
from sdactors.ops.results import (
    BOOL,
    COUNT,
    HEX,
    INT,
    MAYBE_COUNT,
    MAYBE_TEXT,
    MAYBE_TIME,
    PLAIN,
    TEXT,
    many,
    record,
)
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.ops.tags import find_tag
from sdactors.runtime.errors import (
    AgentNotFound,
    BadItems,
    InvalidArgument,
    PlaceOutsideLocations,
    ProposalDecided,
    ProposalNotFound,
    SdError,
)
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import text

log = get_logger(__name__)

PROPOSAL_PREFIX = Text(1, 32, pattern=r"[0-9a-fA-F]+")
OUTCOME = record(item=COUNT, ok=BOOL, error=MAYBE_TEXT)
PROPOSAL = record(
    id=HEX,
    agent=TEXT,
    title=TEXT,
    items=COUNT,
    state=TEXT,
    device=HEX,
    device_name=MAYBE_TEXT,
    proposed=MAYBE_TIME,
    decided_by=MAYBE_TEXT,
    decided=MAYBE_TIME,
    accepted_items=many(COUNT),
    outcomes=Maybe(many(OUTCOME)),
)


def _known(name: str) -> None:
    if name not in BUILTIN:
        raise AgentNotFound(name, sorted(BUILTIN))


def find_proposal(db: Any, wanted: str) -> ProposalRow:
    """The proposal whose id starts with the hex ``wanted``."""
    try:
        prefix = bytes.fromhex(wanted if len(wanted) % 2 == 0 else wanted[:-1])
    except ValueError:
        raise ProposalNotFound(wanted) from None
    found = [p for p in proposals_by_prefix(db, prefix) if p.hex().startswith(wanted.lower())]
    if not found:
        raise ProposalNotFound(wanted)
    if len(found) > 1:
        raise ProposalNotFound(wanted, many=True)
    row = proposal(db, found[0])
    assert row is not None
    return row


def _shown(row: ProposalRow, names: dict[bytes, str | None]) -> dict[str, Any]:
    return {
        "id": row.proposal.hex(),
        "agent": row.agent,
        "title": row.title,
        "items": len(row.items),
        "state": row.state,
        "device": row.device.hex(),
        "device_name": names.get(row.device),
        "proposed": _when(row.hlc),
        "decided_by": (names.get(row.decided_by) or row.decided_by.hex()[:10])
        if row.decided_by is not None
        else None,
        "decided": _when(row.decided_hlc),
        # As people number them: from 1.
        "accepted_items": [n + 1 for n in row.accepted_items],
        "outcomes": [{"item": n + 1, "ok": ok, "error": err} for n, ok, err in row.outcomes]
        if row.outcomes is not None
        else None,
    }


# -- listing the agents and granting them ---------------------------------------------------


@op("agent.list")
@dataclass(frozen=True)
class AgentList(Op):
    """The agents: whether each runs, what it may see and touch, what it follows."""

    library: Annotated[str | None, LIBRARY] = None

    result = many(
        record(
            name=TEXT,
            summary=TEXT,
            enabled=BOOL,
            follows=many(TEXT),
            reads=many(TEXT),
            places=many(record(location=HEX, path=TEXT, where=MAYBE_TEXT)),
            tags=many(record(id=HEX, name=MAYBE_TEXT)),
        )
    )

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        with lib.index() as db:
            enabled = agents_enabled(db)
            where = {row.location: row.path for row in locations(db)}
            tag_names = {t: n for t, n, _c in live_tags(db)}
            out = []
            for name, cls in sorted(BUILTIN.items()):
                grant = agent_grant(db, name)
                out.append(
                    {
                        "name": name,
                        "summary": cls.summary,
                        "enabled": enabled.get(name, False),
                        "follows": list(cls.follows),
                        "reads": list(cls.reads),
                        "places": [
                            {
                                "location": loc.hex(),
                                "path": rel,
                                "where": text(os.path.join(where[loc], os.fsencode(rel))).rstrip(
                                    "/"
                                )
                                if loc in where
                                else None,
                            }
                            for loc, rel in sorted(grant.places)
                        ],
                        "tags": [
                            {"id": t.hex(), "name": tag_names.get(t)} for t in sorted(grant.tags)
                        ],
                    }
                )
        return out


@op("agent.enable", writes=True)
@dataclass(frozen=True)
class AgentEnable(Op):
    """Let an agent run (``on``), or stop it: an admin's decision, shared by every device."""

    name: Annotated[str, AGENT]
    on: Annotated[bool, Bool()] = True
    library: Annotated[str | None, LIBRARY] = None

    result = record(name=TEXT, enabled=BOOL)

    def validate(self, ctx: OpContext) -> None:
        _known(self.name)
        require_admin(ctx, self.library, "enable or disable agents")

    def run(self, ctx: OpContext) -> Any:
        ctx.write_library(self.library).append_typed(AgentEnabled(self.name, self.on))
        return {"name": self.name, "enabled": self.on}


@op("agent.grant", writes=True)
@dataclass(frozen=True)
class AgentGrant(Op):
    """Grant an agent a place (a location of this device, or a folder inside one) and tags,
    or take them back (``revoke``)."""

    name: Annotated[str, AGENT]
    paths: Annotated[tuple, ListOf(PATH, 0, 256)] = ()
    tags: Annotated[tuple, ListOf(Text(1, 1024), 0, 256)] = ()
    revoke: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(
        name=TEXT,
        revoked=BOOL,
        places=many(record(location=HEX, path=TEXT)),
        tags=many(HEX),
    )

    def _what(self, ctx: OpContext) -> tuple[list[tuple[bytes, str]], list[bytes]]:
        _known(self.name)
        if not self.paths and not self.tags:
            raise InvalidArgument("give a place (--location PATH) or a tag (--tag NAME)")
        lib = ctx.write_library(self.library)
        lib.catch_up()
        places: list[tuple[bytes, str]] = []
        tags: list[bytes] = []
        with lib.index() as db:
            for raw in self.paths:
                path = os.path.normpath(raw)
                loc = location_for_path(db, path, ctx.device)
                if loc is None:
                    raise PlaceOutsideLocations(text(path))
                rel = path[len(loc.path) :].strip(b"/")
                places.append((loc.location, os.fsdecode(rel)))
            for name in self.tags:
                tags.append(find_tag(db, name).id)
        return places, tags

    def validate(self, ctx: OpContext) -> None:
        _known(self.name)
        require_admin(ctx, self.library, "grant agents places and tags")
        self._what(ctx)

    def run(self, ctx: OpContext) -> Any:
        places, tags = self._what(ctx)
        kind = AgentGrantRevoked if self.revoke else AgentGranted
        ctx.write_library(self.library).append_typed(kind(self.name, tuple(places), tuple(tags)))
        return {
            "name": self.name,
            "revoked": self.revoke,
            "places": [{"location": loc.hex(), "path": rel} for loc, rel in places],
            "tags": [t.hex() for t in tags],
        }


@op("agent.run", writes=True)
@dataclass(frozen=True)
class AgentRun(Op):
    """Sweep an agent's whole grant now and write what it proposes (it need not be
    enabled: a person asked)."""

    name: Annotated[str, AGENT]
    library: Annotated[str | None, LIBRARY] = None

    result = record(name=TEXT, proposed=COUNT)

    def validate(self, ctx: OpContext) -> None:
        _known(self.name)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        host = AgentPorts(ctx)
        written = run_agents(lib, host, Positions(lib.config.paths.root), sweep=self.name)
        return {"name": self.name, "proposed": written}


# -- proposals ------------------------------------------------------------------------------


@op("agent.proposals")
@dataclass(frozen=True)
class AgentProposals(Op):
    """Proposals, oldest first: the open ones, or (``all``) every one."""

    agent: Annotated[str | None, Maybe(AGENT)] = None
    all: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = many(PROPOSAL)

    def run(self, ctx: OpContext) -> Any:
        if self.agent is not None:
            _known(self.agent)
        lib = ctx.read_library(self.library)
        with lib.index() as db:
            names = device_names(db)
            return [_shown(r, names) for r in proposals(db, self.agent, self.all)]


ITEM_PREVIEW = record(
    item=COUNT,
    reason=TEXT,
    op=TEXT,
    command=TEXT,
    args=PLAIN,
    paths=many(TEXT),
    trash=many(TEXT),
    move=Maybe(record(source=TEXT, destination=TEXT)),
    tag=Maybe(record(add=BOOL, name=TEXT)),
    bytes=MAYBE_COUNT,
)


@op("agent.show")
@dataclass(frozen=True)
class AgentShow(Op):
    """One proposal, previewed: per item what would move where, be tagged or be trashed,
    and the bytes it would free, from the index."""

    proposal: Annotated[str, PROPOSAL_PREFIX]
    library: Annotated[str | None, LIBRARY] = None

    result = record(proposal=PROPOSAL, preview=many(ITEM_PREVIEW), bytes_freed=INT)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        with lib.index() as db:
            row = find_proposal(db, self.proposal)
            names = device_names(db)
            preview = [_preview(db, row.device, n, item) for n, item in enumerate(row.items)]
        return {
            "proposal": _shown(row, names),
            "preview": preview,
            "bytes_freed": sum(p["bytes"] or 0 for p in preview if p["trash"]),
        }


def _size(db: Any, device: bytes, path: bytes) -> int | None:
    """The bytes a file, or everything below a folder, holds by the index."""
    found = resolve(db, path, device)
    if found is None or found.child is None:
        return None
    if found.named_folder is None:
        return found.child.size
    return sum(c.size for _p, c in tree_under(db, path, device) if c.ftype == "f")


def _preview(db: Any, device: bytes, n: int, item: tuple) -> dict[str, Any]:
    reason, name, args = item
    shown_args = {k: text(v) if isinstance(v, bytes) else v for k, v in args.items()}
    out: dict[str, Any] = {
        "item": n + 1,
        "reason": reason,
        "op": name,
        "command": _command_line(name, args),
        "args": shown_args,
        "paths": [],
        "trash": [],
        "move": None,
        "tag": None,
        "bytes": None,
    }
    try:
        command = decode_given(name, dict(args))
    except SdError:
        return out
    touches = command.touches()
    if touches is not None:
        out["paths"] = [text(p) for p in touches.paths]
    if name == "file.remove":
        out["trash"] = [text(args["path"])]
        out["bytes"] = _size(db, device, args["path"])
    elif name == "file.move":
        out["move"] = {"source": text(args["source"]), "destination": text(args["destination"])}
        out["bytes"] = _size(db, device, args["source"])
    elif name in ("tag.add", "tag.remove"):
        out["tag"] = {"add": name == "tag.add", "name": args["tag"]}
    return out


def _command_line(name: str, args: dict[str, Any]) -> str:
    """The item as the ``sd`` command a person would type."""
    if name == "file.remove":
        return f"sd rm {text(args.get('path', b''))}"
    if name == "file.move":
        return f"sd mv {text(args.get('source', b''))} {text(args.get('destination', b''))}"
    if name in ("tag.add", "tag.remove"):
        verb = "add" if name == "tag.add" else "remove"
        paths = " ".join(text(p) for p in args.get("paths", ()))
        return f"sd tag {verb} {paths} {args.get('tag', '')}"
    if name == "agent.rule_add":
        return (
            f"rule: .{args.get('extension', '')} files in {text(args.get('source', b''))} "
            f"go to {text(args.get('destination', b''))}"
        )
    return name


def _decided(row: ProposalRow, names: dict[bytes, str | None]) -> None:
    if row.state != "open":
        by = row.decided_by
        who = (names.get(by) or by.hex()[:10]) if by is not None else "?"
        raise ProposalDecided(row.proposal.hex()[:12], row.state, who)


def chosen_items(only: tuple[int, ...], count: int) -> list[int]:
    """``only`` (numbered from 1, as people see them) as item numbers from 0; every item
    when empty. An item the proposal lacks is refused, naming it."""
    for n in only:
        if not 1 <= n <= count:
            raise BadItems(str(n), count)
    return sorted({n - 1 for n in only})


@op("agent.accept", writes=True)
@dataclass(frozen=True)
class AgentAccept(Op):
    """Accept a proposal (``only``: some of its items, numbered from 1). On the device that
    owns its files its items run now, each audited with the proposal's id; on another, the
    decision is recorded and that device runs them."""

    proposal: Annotated[str, PROPOSAL_PREFIX]
    # Item numbers as people see them (from 1); one the proposal lacks is refused by name.
    only: Annotated[tuple, ListOf(Int(1, 1 << 31), 0, ITEMS_MAX)] = ()
    library: Annotated[str | None, LIBRARY] = None

    result = record(
        id=HEX,
        decision=TEXT,
        runs_on=MAYBE_TEXT,
        items=many(COUNT),
        outcomes=Maybe(many(OUTCOME)),
    )

    def _row(self, ctx: OpContext) -> tuple[ProposalRow, list[int]]:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        with lib.index() as db:
            row = find_proposal(db, self.proposal)
            _decided(row, device_names(db))
        return row, chosen_items(self.only, len(row.items))

    def validate(self, ctx: OpContext) -> None:
        self._row(ctx)

    def run(self, ctx: OpContext) -> Any:
        row, items = self._row(ctx)
        lib = ctx.write_library(self.library)
        lib.append_typed(AgentDecided(row.proposal, "accepted", tuple(items)))
        result: dict[str, Any] = {
            "id": row.proposal.hex(),
            "decision": "accepted",
            "runs_on": None,
            "items": [n + 1 for n in (items or range(len(row.items)))],
            "outcomes": None,
        }
        if row.device != ctx.device:
            with lib.index() as db:
                owner = device_names(db).get(row.device)
            result["runs_on"] = owner or row.device.hex()[:10]
            return result
        outcomes = apply_items(ctx, lib.config.id, row, items or list(range(len(row.items))))
        result["outcomes"] = [{"item": n + 1, "ok": ok, "error": err} for n, ok, err in outcomes]
        return result


@op("agent.reject", writes=True)
@dataclass(frozen=True)
class AgentReject(Op):
    """Reject a proposal: nothing of it runs, and the agent does not propose it again."""

    proposal: Annotated[str, PROPOSAL_PREFIX]
    library: Annotated[str | None, LIBRARY] = None

    result = record(id=HEX, decision=TEXT)

    def _row(self, ctx: OpContext) -> ProposalRow:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        with lib.index() as db:
            row = find_proposal(db, self.proposal)
            _decided(row, device_names(db))
        return row

    def validate(self, ctx: OpContext) -> None:
        self._row(ctx)

    def run(self, ctx: OpContext) -> Any:
        row = self._row(ctx)
        ctx.write_library(self.library).append_typed(AgentDecided(row.proposal, "rejected", ()))
        return {"id": row.proposal.hex(), "decision": "rejected"}


# -- running accepted items -----------------------------------------------------------------


def apply_items(
    host: Any, library: str, row: ProposalRow, items: list[int]
) -> list[tuple[int, bool, str | None]]:
    """Run ``items`` of ``row`` (numbers from 0) through the ActionManager's audited path, as
    the user, each with the proposal's id; record how each ended (``agent.applied``) and
    return that."""
    outcomes: list[tuple[int, bool, str | None]] = []
    for n in items:
        _reason, name, args = row.items[n]
        given = dict(args)
        given["library"] = library
        try:
            run_audited(host, decode_given(name, given), None, (row.proposal, row.agent))
            outcomes.append((n, True, None))
        except SdError as exc:
            outcomes.append((n, False, str(exc)[:500] or type(exc).__name__))
        except Exception as exc:  # noqa: BLE001 - one item's fault is its outcome, not the lot's
            log.warning("agent_item_failed", item=n, error=str(exc))
            outcomes.append((n, False, f"{type(exc).__name__}: {exc}"[:500]))
    host.write_library(library).append_typed(AgentApplied(row.proposal, tuple(outcomes)))
    return outcomes


class AgentPorts:
    """The node as its AgentManager sees it (``sdactors.agent.manager.AgentHost``)."""

    def __init__(self, host: Any) -> None:
        self._host = host

    @property
    def device(self) -> bytes:
        return self._host.device

    def library(self, library_id: str) -> Any:
        return self._host.write_library(library_id)

    def touches(self, name: str, args: dict[str, Any]) -> Touches | None:
        try:
            return decode_given(name, dict(args)).touches()
        except SdError:
            return None

    def apply(self, library_id: str, proposal_id: bytes) -> None:
        lib = self._host.write_library(library_id)
        lib.catch_up()
        with lib.index() as db:
            row = proposal(db, proposal_id)
        if row is None or row.state != "accepted":
            return
        apply_items(self._host, library_id, row, row.chosen())
