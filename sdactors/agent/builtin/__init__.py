"""The built-in agents, by name: one module each, one class following
``sdactors.agent.protocol.Agent``."""

from __future__ import annotations

from sdactors.agent.ask import Ask
from sdactors.agent.builtin.cold import Cold
from sdactors.agent.builtin.downloads import Downloads
from sdactors.agent.builtin.duplicates import Duplicates
from sdactors.agent.builtin.rules import Rules
from sdactors.agent.builtin.similar import Similar
from sdactors.agent.builtin.tags import Tags
from sdactors.agent.protocol import Agent

BUILTIN: dict[str, type[Agent]] = {
    Downloads.name: Downloads,
    Duplicates.name: Duplicates,
    Similar.name: Similar,
    Cold.name: Cold,
    Ask.name: Ask,
    Tags.name: Tags,
    Rules.name: Rules,
}
