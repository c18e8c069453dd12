"""The built-in agents, by the name people type (``sd agent enable NAME``)."""

from sdactors.agent.builtin.cold import Cold
from sdactors.agent.builtin.duplicates import Duplicates
from sdactors.agent.builtin.similar import Similar

BUILTIN = {
    "duplicates": Duplicates,
    "similar": Similar,
    "cold": Cold,
}
