"""A proposal's title and each item's reason are one line of bounded length (what
``agent.proposed`` accepts, ``events.domain.agents``): what an agent says is put on one line
and cut to fit, marked where it was cut, rather than refused by the log. The cut is in the
middle: a line ends with what it names last (where a file goes, the folder of a rule), and
paths differ at their ends."""

from __future__ import annotations

from events.domain.agents import REASON

TITLE_MAX = 200  # AgentProposed.title
REASON_MAX = REASON.max


def _fit(text: str, most: int) -> str:
    text = " ".join(text.split())
    if len(text) <= most:
        return text
    head = (most - 1) // 2
    return text[:head] + "…" + text[len(text) - (most - 1 - head) :]


def title(text: str) -> str:
    return _fit(text, TITLE_MAX)


def reason(text: str) -> str:
    return _fit(text, REASON_MAX)
