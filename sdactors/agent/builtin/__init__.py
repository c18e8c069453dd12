"""The built-in agents, by name: one module each, one class following
``sdactors.agent.protocol.Agent``."""

from __future__ import annotations

from sdactors.agent.builtin.downloads import Downloads
from sdactors.agent.protocol import Agent

BUILTIN: dict[str, type[Agent]] = {
    Downloads.name: Downloads,
}
