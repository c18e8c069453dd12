"""The rules agent on a real index and a real audit log: three moves of one kind of file from
one folder to another by a person (``sd mv``) make a proposed rule; the accepted rule is a
shared fact, and from then on each matching file gets a proposed move."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from events.domain import CATALOG
from events.domain.agents import AgentProposed
from sdactors.agent import lines
from sdactors.agent.builtin.rules import Rules
from sdactors.agent.protocol import Proposal
from tests.conftest import Sd
from tests.helpers_agents import agent_view
from tests.helpers_tree import pdf_bytes, write
from tests.llm_server import calls, configure, says, serve


def proposed(sd: Sd, **view: Any) -> list[Proposal]:
    """What the rules agent proposes now, each proposal an event body the log accepts."""
    with agent_view(sd, **view) as v:
        found = list(Rules().propose(v, []))
    for p in found:
        typed = AgentProposed(
            p.id, p.agent, p.title, tuple((i.reason, i.op, i.args) for i in p.items)
        )
        assert CATALOG.check(*CATALOG.body(typed)) is None
    return found


def what(found: list[Proposal]) -> list[tuple[str, dict[str, Any]]]:
    shown = []
    for p in found:
        for i in p.items:
            shown.append(
                (
                    i.op,
                    {k: os.fsdecode(v) if isinstance(v, bytes) else v for k, v in i.args.items()},
                )
            )
    return shown


@pytest.fixture
def root(sd: Sd, tmp_path: Path) -> Path:
    root = tmp_path / "home"
    for n in range(1, 5):
        write(
            root,
            f"Downloads/invoice {n}.PDF" if n == 2 else f"Downloads/invoice {n}.pdf",
            pdf_bytes() + bytes([n]),
        )
    write(root, "Downloads/beach.jpg", b"\xff\xd8 one")
    write(root, "Downloads/notes.txt", "notes")
    (root / "Documents/Invoices").mkdir(parents=True)
    (root / "Pictures").mkdir()
    (root / "Archive").mkdir()
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    return root


def mv(sd: Sd, root: Path, rel: str, to: str) -> None:
    sd.run("mv", str(root / rel), str(root / to))


def test_three_moves_by_a_person_make_a_rule_and_the_rule_its_moves(sd: Sd, root: Path) -> None:
    invoices, downloads = root / "Documents/Invoices", root / "Downloads"
    mv(sd, root, "Downloads/invoice 1.pdf", "Documents/Invoices")
    mv(sd, root, "Downloads/invoice 2.PDF", "Documents/Invoices")
    mv(sd, root, "Downloads/beach.jpg", "Pictures")
    mv(sd, root, "Downloads/notes.txt", "Archive")
    assert proposed(sd) == []  # two of a kind are not yet a habit
    mv(sd, root, "Downloads/invoice 3.pdf", "Documents/Invoices/")
    [rule] = proposed(sd)
    assert what([rule]) == [
        (
            "agent.rule_add",
            {"source": str(downloads), "extension": "pdf", "destination": str(invoices)},
        )
    ]
    assert rule.items[0].reason == (
        f"you moved 3 .pdf files from {downloads} to {invoices} "
        "(invoice 1.pdf, invoice 2.PDF, invoice 3.pdf)"
    )
    assert rule.title == lines.title(f"rule: .pdf files in {downloads} go to {invoices}")
    # As a user: the agent granted the home folder, its proposal written, previewed, accepted.
    sd.run("agent", "grant", "rules", "--location", str(root))
    assert sd.json("agent", "run", "rules")["proposed"] == 1
    [open_] = sd.json("agent", "proposals")
    assert open_["id"] == rule.id.hex() and open_["agent"] == "rules"
    [item] = sd.json("agent", "show", open_["id"])["preview"]
    assert item["command"] == f"rule: .pdf files in {downloads} go to {invoices}"
    assert [o["ok"] for o in sd.json("agent", "accept", open_["id"])["outcomes"]] == [True]
    [added] = sd.json_lines("log", "show", "--type", "agent.rule_added")
    assert added["body"]["extension"] == "pdf"
    [audited] = [a for a in sd.json("audit") if a["command"] == "agent.rule_add"]
    assert audited["proposal"] == open_["id"]
    # From then on: no rule to propose, and a move for each matching file, one proposal each.
    [move] = proposed(sd)
    assert what([move]) == [
        ("file.move", {"source": str(downloads / "invoice 4.pdf"), "destination": str(invoices)})
    ]
    assert move.items[0].reason == lines.reason(
        f"your rule: .pdf files in {downloads} go to {invoices}"
    )
    write(root, "Downloads/invoice 5.pdf", pdf_bytes() + b"5")
    write(root, "Downloads/photo.png", b"not a pdf")
    sd.run("location", "rescan", str(root))
    later = proposed(sd)
    assert [p.id for p in later][:1] == [move.id]  # the first one's proposal is unchanged
    assert [i.args["source"] for p in later for i in p.items] == [
        os.fsencode(downloads / "invoice 4.pdf"),
        os.fsencode(downloads / "invoice 5.pdf"),
    ]
    # Accepted, a rule's move is done, and teaches nothing (it is the rule's, not a habit).
    assert sd.json("agent", "run", "rules")["proposed"] == 2
    first = next(p for p in sd.json("agent", "proposals") if p["id"] == move.id.hex())
    sd.run("agent", "accept", first["id"])
    assert (invoices / "invoice 4.pdf").exists() and not (downloads / "invoice 4.pdf").exists()
    [fourth] = [a for a in sd.json("audit") if a["command"] == "file.move" and a["proposal"]]
    assert fourth["proposal"] == move.id.hex()
    assert what(proposed(sd)) == [
        ("file.move", {"source": str(downloads / "invoice 5.pdf"), "destination": str(invoices)})
    ]


def test_a_grant_without_either_folder_learns_and_proposes_nothing(sd: Sd, root: Path) -> None:
    for n in (1, 3, 4):
        mv(sd, root, f"Downloads/invoice {n}.pdf", "Documents/Invoices")
    assert len(proposed(sd)) == 1
    assert proposed(sd, places=[os.fsencode(root / "Downloads")]) == []
    assert proposed(sd, places=[os.fsencode(root / "Documents")]) == []


def test_moves_an_agent_proposed_teach_no_rule(sd: Sd, root: Path) -> None:
    """Three PDFs moved by accepting the ask agent's proposal: the audit says whose they were,
    and a rule is learned from a person's habits only."""
    downloads, invoices = root / "Downloads", root / "Documents/Invoices"
    pdfs = [str(downloads / f"invoice {n}.pdf") for n in (1, 3, 4)]

    def script(messages: Any, tools: Any) -> Any:
        if messages[-1]["role"] == "tool":
            return says("done")
        return calls(
            *(
                ("file_move", {"source": p, "destination": str(invoices), "reason": "an invoice"})
                for p in pdfs
            )
        )

    with serve(script) as llm:
        configure(sd, llm.url)
        sd.run("agent", "grant", "ask", "--location", str(root))
        found = sd.json("agent", "ask", "file my invoices")
        assert [o["ok"] for o in sd.json("agent", "accept", found["proposal"])["outcomes"]] == [
            True
        ] * 3
    assert sorted(p.name for p in invoices.iterdir()) == [
        "invoice 1.pdf",
        "invoice 3.pdf",
        "invoice 4.pdf",
    ]
    assert proposed(sd) == []
