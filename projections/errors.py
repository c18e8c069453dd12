"""Failures of the read models, with the sentence a user reads."""

from __future__ import annotations


class ProjectionError(Exception):
    """Base of everything the projections raise on purpose."""


class IndexDamaged(ProjectionError):
    def __init__(self, path: str, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"index {path} is damaged ({detail}); run 'sd projections rebuild' to rebuild it "
            "from the event log"
        )


class AheadOfLog(ProjectionError):
    """The index has folded events the log no longer has (a log restored from a backup)."""

    def __init__(self, checkpoint: int, head: int) -> None:
        super().__init__(
            f"the index has folded up to event {checkpoint} but the log ends at {head}"
        )


class RefoldNeeded(ProjectionError):
    """Membership changed so that events already folded no longer count (a revocation cut
    them): the index must be folded again from the log. Not a failure: whoever holds the
    index refolds it (the node in the background, swapping the result in)."""

    def __init__(self, device: bytes, cut: int) -> None:
        super().__init__(
            f"device {device.hex()[:10]} was revoked at seq {cut}, after its later events "
            "were folded: the index is folded again from the log"
        )
