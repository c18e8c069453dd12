"""The read models of a library, in the order they are folded."""

from __future__ import annotations

from projections.actions import ActionsProjection
from projections.agent_rules import AgentRulesProjection
from projections.agents import AgentsProjection
from projections.annotations import AnnotationsProjection
from projections.base import Projection
from projections.devices import DevicesProjection
from projections.files.fold import FilesProjection
from projections.history import HistoryProjection
from projections.jobs import JobsProjection
from projections.library import LibraryProjection
from projections.membership import MembershipProjection
from projections.tags import TagsProjection
from projections.volumes import VolumesProjection


def library_projections() -> list[Projection]:
    """Fresh projection objects for one index (they hold no state, but callers own them)."""
    return [
        MembershipProjection(),
        LibraryProjection(),
        DevicesProjection(),
        TagsProjection(),
        VolumesProjection(),
        FilesProjection(),
        # After the file index: it watches the contents annotations are on (see there).
        AnnotationsProjection(),
        HistoryProjection(),
        ActionsProjection(),
        JobsProjection(),
        AgentsProjection(),
        AgentRulesProjection(),
    ]
