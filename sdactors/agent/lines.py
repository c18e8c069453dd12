"""A proposal's title and each item's reason are one line of bounded length (what
``agent.proposed`` accepts, ``events.domain.agents``): what an agent says is put on one line
and cut to fit, marked where it was cut, rather than refused by the log."""

from __future__ import annotations

from events.domain.agents import REASON

TITLE_MAX = 200  # AgentProposed.title
REASON_MAX = REASON.max


def _fit(text: str, most: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


def title(text: str) -> str:
    return _fit(text, TITLE_MAX)


def reason(text: str) -> str:
    return _fit(text, REASON_MAX)
