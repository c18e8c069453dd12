"""The built-in agents, by the name people type (``sd agent enable NAME``)."""

from sdactors.agent.ask import Ask
from sdactors.agent.builtin.rules import Rules
from sdactors.agent.builtin.tags import Tags

BUILTIN = {
    "ask": Ask,
    "tags": Tags,
    "rules": Rules,
}
