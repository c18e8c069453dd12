"""Agents: what they propose, what people decide, what was done, and what they may see.

An agent (``sdactors.agent``) never changes a library itself: it writes *proposals*, each
the exact commands it would run (``items``: the command's name and its arguments as a client
sends them) with one line of reasoning per item. A proposal's id is a hash of its agent and
its commands (``proposal_id``), never of who wrote it or when: two devices whose agents come
to the same conclusion write the same id, and every device folds it as one proposal.

- ``agent.proposed``: a shared fact, written by the device whose files it names (an agent
  proposes only about its own device's files). Of two events with one id, the first by
  ``(hlc, device)`` is the proposal; a copy changes nothing.
- ``agent.decided``: a person accepts (some or all of its items, numbered from 0) or rejects
  a proposal, on any device. The first decision by ``(hlc, device)`` stands: a proposal is
  decided once, and two people deciding at once on two devices resolve the same everywhere.
- ``agent.applied``: the device that owns the files ran an accepted proposal's items (as the
  person who accepted it, each audited with the proposal's id) and says how each ended.
  Written by the proposal's own device only; another device's is ignored.
- ``agent.granted`` / ``agent.grant_revoked`` / ``agent.enabled``: what an agent may see and
  touch, and whether it runs. Membership facts (``events.domain.device.MEMBERSHIP_TYPES``):
  they count only when their writer is an admin at that point, by the membership rules.
"""

from dataclasses import dataclass
from typing import Annotated

from blake3 import blake3

from events.codec import pack
from events.domain.actions import COMMAND, PROPOSAL_ID_LEN
from events.domain.catalog import CATALOG
from events.shapes import Bool, Id, Int, ListOf, Maybe, OneOf, Plain, Record, Text

# An agent's name: lower case, as people type it (``duplicates``, ``downloads``).
AGENT = Text(1, 64, pattern=r"[a-z][a-z0-9_-]*")
# Items of one proposal: enough for a folder of duplicates, small enough to read.
ITEMS_MAX = 1000
REASON = Text(1, 500)

# One command a proposal would run: why (one line), which command, its arguments.
ITEM = Record((("reason", REASON), ("op", COMMAND), ("args", Plain())))
DECISIONS = ("accepted", "rejected")
# How an item of an accepted proposal ended: its number, whether it ran, the error if not.
OUTCOME = Record((("item", Int(0, ITEMS_MAX - 1)), ("ok", Bool()), ("error", Maybe(Text(1, 500)))))
# A place an agent may see: a location, and a folder in it (relative, "" for all of it).
PLACE = Record((("location", Id()), ("path", Text(0, 4096))))


def proposal_id(agent: str, items: list[tuple[str, dict]]) -> bytes:
    """The id of the proposal of ``agent`` running ``items`` (``(op, args)`` pairs): the same
    commands from the same agent are one proposal, whichever device wrote it and when."""
    return blake3(pack([agent, [[op, args] for op, args in items]])).digest(PROPOSAL_ID_LEN)


@CATALOG.event("agent.proposed")
@dataclass(frozen=True, slots=True)
class AgentProposed:
    proposal: Annotated[bytes, Id(PROPOSAL_ID_LEN)]
    agent: Annotated[str, AGENT]
    title: Annotated[str, Text(1, 200)]
    items: Annotated[tuple, ListOf(ITEM, 1, ITEMS_MAX)]


@CATALOG.event("agent.decided")
@dataclass(frozen=True, slots=True)
class AgentDecided:
    proposal: Annotated[bytes, Id(PROPOSAL_ID_LEN)]
    decision: Annotated[str, OneOf(DECISIONS)]
    # Accepted items (empty: every item); empty for a rejection.
    items: Annotated[tuple, ListOf(Int(0, ITEMS_MAX - 1), 0, ITEMS_MAX)]


@CATALOG.event("agent.applied")
@dataclass(frozen=True, slots=True)
class AgentApplied:
    proposal: Annotated[bytes, Id(PROPOSAL_ID_LEN)]
    outcomes: Annotated[tuple, ListOf(OUTCOME, 0, ITEMS_MAX)]


@CATALOG.event("agent.granted")
@dataclass(frozen=True, slots=True)
class AgentGranted:
    agent: Annotated[str, AGENT]
    places: Annotated[tuple, ListOf(PLACE, 0, 256)]
    tags: Annotated[tuple, ListOf(Id(), 0, 256)]


@CATALOG.event("agent.grant_revoked")
@dataclass(frozen=True, slots=True)
class AgentGrantRevoked:
    agent: Annotated[str, AGENT]
    places: Annotated[tuple, ListOf(PLACE, 0, 256)]
    tags: Annotated[tuple, ListOf(Id(), 0, 256)]


@CATALOG.event("agent.enabled")
@dataclass(frozen=True, slots=True)
class AgentEnabled:
    agent: Annotated[str, AGENT]
    on: Annotated[bool, Bool()]


# A file's extension as a rule matches it: lower case, without its dot.
EXTENSION = Text(1, 32, pattern=r"[a-z0-9_+-]+")


@CATALOG.event("agent.rule_added")
@dataclass(frozen=True, slots=True)
class AgentRuleAdded:
    """A rule a person accepted (an item of a ``rules`` proposal, run as the ``agent.rule_add``
    command): files of one extension in one folder belong in another. A shared fact: every
    device knows the rule, and the device whose locations it names proposes the moves.
    The same rule added twice is one rule (its places and extension are its identity)."""

    agent: Annotated[str, AGENT]
    source: Annotated[tuple, PLACE]
    extension: Annotated[str, EXTENSION]
    destination: Annotated[tuple, PLACE]
