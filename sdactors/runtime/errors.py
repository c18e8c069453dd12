"""Every failure a user can meet in sdactors, with the one line they read.

The CLI prints ``str(error)``; nothing else in the code writes user-facing error text, so the
wording lives here in one place.
"""

from __future__ import annotations

import shlex
import signal
import stat


class SdError(Exception):
    """Base of everything sdactors raises on purpose."""


class ConfigError(SdError):
    pass


class NoLibrary(SdError):
    def __init__(self, wanted: str | None, known: list[str]) -> None:
        if wanted:
            msg = f"no library named or with id {wanted!r}"
        elif not known:
            msg = "no library yet: create one with 'sd library create NAME'"
        else:
            msg = "several libraries exist; choose one with --library NAME|ID"
        if known:
            msg += f" (libraries: {', '.join(known)})"
        super().__init__(msg)


class LibraryExists(SdError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a library named {name!r} already exists")


class LibraryLocked(SdError):
    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"library {name!r} is in use by {holder}")
        self.holder = holder


class LibraryMismatch(SdError):
    def __init__(self, file_library: str, target: str) -> None:
        super().__init__(
            f"the file holds the log of library {file_library}, not of {target}; "
            "import it without --library to restore it as its own library"
        )


class TagNotFound(SdError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no tag named {name!r}")


class TagExists(SdError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a tag named {name!r} already exists")


class AmbiguousTag(SdError):
    def __init__(self, name: str, count: int) -> None:
        super().__init__(
            f"{count} tags are named {name!r} (created on two devices at once); "
            "rename one by its id"
        )


class TagToCreate(TagNotFound):
    """Putting a tag on files that no tag of the library is named."""

    def __init__(self, name: str) -> None:
        SdError.__init__(
            self,
            f"no tag named {name!r}: create it with 'sd tag create {shlex.quote(name)}', "
            "or add --create",
        )


class RootNotAnnotated(SdError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is the root of a location: tags, favourites and notes go on what it holds"
        )


class LogLost(SdError):
    """events.db lost events the index had folded: writing now would fork this device's chain."""

    def __init__(self, library: str, held: int, folded: int) -> None:
        super().__init__(
            f"the event log of library {library!r} holds {held} events but its index has "
            f"folded {folded}: events.db was emptied, lost or replaced by an older copy. "
            "Restore it from an export of this library, yours or a peer's "
            "('sd log restore FILE'); nothing was changed"
        )


class LogDamaged(SdError):
    """``sd log verify`` found the log damaged; writes wait until it is restored."""

    def __init__(self, library: str, problems: int, first: str) -> None:
        super().__init__(
            f"the event log of library {library!r} is damaged ({problems} problem(s) found by "
            f"'sd log verify', first: {first}); nothing is written to it until it is restored: "
            "'sd log restore FILE' with an export of this library (yours or a peer's) keeps "
            "the damaged log beside the new one, and 'sd log verify' clears this once the log "
            "is whole again"
        )


class InvalidArgument(SdError):
    pass


class ActorFailed(SdError):
    """An actor could not answer; the supervisor has restarted it."""


class VolumeNotFound(SdError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} does not exist")


class NotAMountPoint(SdError):
    def __init__(self, path: str, holder: str | None) -> None:
        msg = f"{path} is not the mount point of a volume"
        if holder is not None:
            msg += f" (it is on the volume mounted at {holder})"
        super().__init__(msg)


class VolumeReadOnly(SdError):
    def __init__(self, mount_point: str) -> None:
        super().__init__(f"the volume at {mount_point} is mounted read-only: a speed test writes")


class SpeedTestFailed(SdError):
    def __init__(self, mount_point: str, reason: str) -> None:
        super().__init__(f"speed test of {mount_point} failed: {reason}")


class LocationNotFound(SdError):
    def __init__(self, wanted: str) -> None:
        super().__init__(f"no location {wanted!r} in this library (see 'sd location list')")


class NotOwner(SdError):
    """A device-owned fact of another device: only that device may change it."""

    def __init__(self, path: str, device: str, name: str | None) -> None:
        who = f"{name} ({device[:10]})" if name else device[:10]
        super().__init__(
            f"location {path} belongs to device {who}: only that device can rescan, change or "
            "remove it"
        )


class AmbiguousLocation(SdError):
    def __init__(self, wanted: str, count: int) -> None:
        super().__init__(f"{count} locations match {wanted!r}: give its path or its id")


class LocationExists(SdError):
    """A new location would overlap one of this device's: a folder is in one location only."""

    def __init__(self, path: str, name: str, existing: str, inside: bool) -> None:
        if inside:
            msg = (
                f"cannot add {path}: it is inside the location {name!r} ({existing}), "
                "which indexes it already"
            )
        else:
            msg = (
                f"cannot add {path}: it holds the location {name!r} ({existing}); a folder can "
                f"be in one location only (remove {name!r} first to index the whole of it)"
            )
        super().__init__(msg)


class InDataDir(SdError):
    """The node's own files (its log, its index, its key) are never indexed."""

    def __init__(self, path: str, data: str, inside: bool) -> None:
        where = "inside " if inside else ""
        super().__init__(
            f"cannot index {path}: it is {where}sdactors' own data directory ({data}), "
            "which holds this device's log, index and key"
        )


class NotAFolder(SdError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"cannot index {path}: {why}")


class NotIndexed(SdError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not in the index (add its folder with 'sd location add')")


class NotAFile(SdError):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path} is {what}, not a file (list it with 'sd ls {path}')")


class DifferentLibraries(SdError):
    """Two logs compared by ``sd log diff`` belong to different libraries."""

    def __init__(self, a: str, a_library: str, b: str, b_library: str) -> None:
        super().__init__(
            f"{a} is a log of library {a_library} and {b} of library {b_library}: "
            "only two copies of one library's log can be compared"
        )


class NotInLocation(SdError):
    def __init__(self, path: str, location: str) -> None:
        super().__init__(f"{path} is not inside the location {location}")


class LocationIsOffline(SdError):
    """A rescan found the location's volume absent: nothing was deleted."""

    def __init__(self, path: str, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"location {path} is offline: {reason}; its entries are kept (and still found "
            "by search) until it is back"
        )


class DeletionsHeld(SdError):
    """A rescan would delete most of a location: it waits for someone to confirm."""

    def __init__(self, path: str, deleting: int, entries: int, job: bytes | None = None) -> None:
        self.path, self.deleting, self.entries, self.job = path, deleting, entries, job
        how = "rescan with --confirm-deletions"
        if job is not None:
            how += f" or resume the held job: 'sd jobs resume {job.hex()[:12]} --confirm'"
        super().__init__(
            f"rescan of {path} held: it would delete {deleting:,} of its {entries:,} entries, "
            f"so nothing was deleted; if they are really gone, {how}"
        )

    def for_job(self, job: bytes) -> "DeletionsHeld":
        """The same, saying which held job to resume."""
        return DeletionsHeld(self.path, self.deleting, self.entries, job)


def _kind_of_file(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, words in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return words
    return "not a regular file"


class OutputRefused(SdError):
    """A command will not write its output at the path it was given."""


class OutputIsOwnFile(OutputRefused):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"will not write {path}: it is one of sdactors' own files "
            "(a library, device.key or node.toml); choose a path outside them"
        )


class OutputNotRegular(OutputRefused):
    def __init__(self, path: str, mode: int) -> None:
        super().__init__(f"will not write {path}: it is {_kind_of_file(mode)}, not a regular file")


class OutputExists(OutputRefused):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} already exists: add --force to replace it")


class OutputFailed(OutputRefused):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")


class PrivateFileRefused(SdError):
    """One of sdactors' own files (a key, a database) is not what it must be."""

    def __init__(self, path: str, mode: int) -> None:
        what = _kind_of_file(mode)
        if what == "a symbolic link":
            super().__init__(
                f"{path} is a symbolic link: sdactors does not follow links to its keys and "
                "databases; replace the link with the file itself"
            )
        else:
            super().__init__(f"{path} is {what}, not a regular file")


class InvalidPattern(SdError):
    def __init__(self, pattern: str, why: str, location: str | None = None) -> None:
        msg = f"invalid exclude pattern {pattern!r}: {why}"
        if location is not None:
            msg += (
                f" (in the stored rules of location {location}; clear them with: "
                f"sd location rules {shlex.quote(location)} --clear-excludes)"
            )
        super().__init__(msg)


class Interrupted(SdError):
    """Ctrl-C or SIGTERM: the command stopped cleanly, keeping what it had committed."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(
            f"stopped by {signal.Signals(signum).name}: what was already saved is kept"
        )


class NodeNotAnswering(SdError):
    """A node holds the data directory's control socket but does not answer."""

    def __init__(self, socket: str, why: str) -> None:
        super().__init__(
            f"the node serving this data directory does not answer ({why}; its socket is "
            f"{socket}): its libraries stay locked by it; stop it (or wait) and try again"
        )


class RemoteError(SdError):
    """What the node said went wrong with a command: its message, as the CLI prints it."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class NodeRunning(SdError):
    def __init__(self, data: str, holder: str) -> None:
        super().__init__(f"a node already serves {data} ({holder}); stop it first")


class NodeNotRunning(SdError):
    def __init__(self, data: str) -> None:
        super().__init__(f"no node serves {data} (start one with 'sd node run')")


class FileOpRefused(SdError):
    """``sd cp``, ``sd mv`` or ``sd rm`` will not act: nothing was changed on disk."""


class SourceMissing(FileOpRefused):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} does not exist")


class OutsideLocations(FileOpRefused):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is not inside a location of this device: sd cp, mv and rm act only on "
            "indexed folders (see 'sd location list')"
        )


class LocationRootRefused(FileOpRefused):
    def __init__(self, path: str, verb: str) -> None:
        super().__init__(
            f"will not {verb} {path}: it is the root of a location "
            "(remove the location with 'sd location remove' instead)"
        )


class HoldsDataDir(FileOpRefused):
    def __init__(self, path: str, verb: str) -> None:
        super().__init__(f"will not {verb} {path}: sdactors' own data directory is inside it")


class FileOpOffline(FileOpRefused):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path} is in a location that is offline ({reason})")


class DestinationExists(FileOpRefused):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} already exists: add --force to replace it")


class DestinationIsFolder(FileOpRefused):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is a folder: --force replaces files only; remove it first with 'sd rm'"
        )


class NoDestinationFolder(FileOpRefused):
    def __init__(self, path: str) -> None:
        super().__init__(f"cannot create {path}: its folder does not exist")


class SamePath(FileOpRefused):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is both the source and the destination")


class IntoItself(FileOpRefused):
    def __init__(self, source: str, destination: str) -> None:
        super().__init__(f"cannot put {source} inside itself ({destination})")


class CannotCopy(FileOpRefused):
    def __init__(self, path: str, mode: int) -> None:
        super().__init__(f"cannot copy {path}: it is {_kind_of_file(mode)}")


class TrashItemNotFound(FileOpRefused):
    def __init__(self, wanted: str, many: int = 0) -> None:
        super().__init__(
            f"{many} items in the trash have ids starting with {wanted}: give more of the id"
            if many
            else f"nothing in the trash is {wanted} (see 'sd trash list')"
        )


class TrashNoOrigin(FileOpRefused):
    def __init__(self, item: str) -> None:
        super().__init__(
            f"cannot restore {item}: it was trashed before sd recorded where items came from "
            "(copy it out of the trash folder by hand, see 'sd trash list')"
        )


class RestoreOccupied(FileOpRefused):
    def __init__(self, item: str, path: str) -> None:
        super().__init__(
            f"will not restore {item}: {path} exists now (move it away first; nothing was changed)"
        )


class FileOpFailed(SdError):
    """A copy, move or removal stopped part way; what it says was left is as it says."""


class CopyMismatch(FileOpFailed):
    def __init__(self, source: str) -> None:
        super().__init__(
            f"the copy of {source} does not match it (blake3 differs): the copy was removed, "
            "nothing was put in place and the source is kept"
        )


class SourceChanged(FileOpFailed):
    def __init__(self, source: str) -> None:
        super().__init__(
            f"{source} changed while it was being copied: nothing was put in place and the "
            "source is kept; try again"
        )


class SourceChangedKept(FileOpFailed):
    def __init__(self, source: str, copy: str) -> None:
        super().__init__(
            f"{source} changed while it was being moved: both were kept (the source as it is "
            f"now, and at {copy} the copy made before the change)"
        )


class FileOpCancelled(FileOpFailed):
    def __init__(self, path: str, copying: bool = True) -> None:
        left = (
            "nothing was put in place and the source is kept"
            if copying
            else "part of it may already be deleted"
        )
        super().__init__(f"cancelled while {'copying' if copying else 'deleting'} {path}: {left}")


class JobNotFound(SdError):
    def __init__(self, wanted: str, many: int = 0) -> None:
        super().__init__(
            f"{many} jobs start with {wanted}: give more of the id"
            if many
            else f"no job {wanted} (see 'sd jobs list --all')"
        )


class JobStopped(SdError):
    """A job a command waited on stopped before its end: paused, held, cancelled, or the
    node stopping (it resumes when the node starts again)."""

    def __init__(self, job: bytes, how: str) -> None:
        self.job = job
        super().__init__(f"job {job.hex()[:12]} {how}")


class JobStateRefused(SdError):
    def __init__(self, job: bytes, state: str, wanted: str) -> None:
        super().__init__(f"job {job.hex()[:12]} is {state}: it cannot be {wanted}")


# -- networking: pairing, sync, Spacedrop -------------------------------------------------


class NetError(SdError):
    """Something between two devices failed; the message says which side and why."""


class NeedsNode(NetError):
    def __init__(self, what: str, data: str) -> None:
        super().__init__(
            f"{what} needs the node's network endpoint, and no node serves {data} "
            "(start one with 'sd node run')"
        )


class BadTicket(NetError):
    def __init__(self, why: str) -> None:
        super().__init__(f"not a pairing ticket: {why}")


class PairingRefused(NetError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"pairing refused by the inviting device: {reason}")


class PeerUnreachable(NetError):
    def __init__(self, device: str, why: str) -> None:
        super().__init__(f"cannot reach device {device}: {why}")


class PeerRefused(NetError):
    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"device {device} refused: {reason}")


class ProtocolViolation(NetError):
    """A peer sent something the protocol does not allow (a malformed or oversized frame)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"protocol violation: {why}")


class PeerGone(NetError):
    def __init__(self, why: str = "the connection closed") -> None:
        super().__init__(why)


class UnknownDevice(NetError):
    def __init__(self, wanted: str, known: list[str]) -> None:
        msg = f"no device named or with id {wanted!r} in this library"
        if known:
            msg += f" (devices: {', '.join(known)})"
        super().__init__(msg)


class NotAdmin(NetError):
    """Only a library's admins pair, revoke and change roles."""

    def __init__(self, what: str, library: str, admins: list[str]) -> None:
        who = f" (admins: {', '.join(admins)})" if admins else ""
        super().__init__(
            f"only an admin of library {library!r} can {what}; this device is not one{who}"
        )


class LastAdmin(NetError):
    def __init__(self, device: str, what: str) -> None:
        super().__init__(
            f"{device} is the library's last admin: it cannot be {what} (make another device "
            "an admin first: 'sd device role DEVICE admin')"
        )


class NotADrop(NetError):
    def __init__(self, wanted: str) -> None:
        super().__init__(f"no pending Spacedrop offer {wanted!r} (see 'sd drop list')")


class DropNotAFile(NetError):
    def __init__(self, path: str) -> None:
        super().__init__(f"cannot send {path}: Spacedrop sends files, not folders or devices")


class DropFailed(NetError):
    """A file of a drop arrived but could not be kept: nothing of it was put in place."""

    def __init__(self, device: str, name: str, reason: str) -> None:
        super().__init__(f"{name} could not be delivered to device {device}: {reason}")


class DropMismatch(NetError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} arrived different from what was offered (blake3 mismatch): it was "
            "discarded; send it again"
        )


class DropNoRoom(NetError):
    def __init__(self, offer: str, why: str) -> None:
        super().__init__(
            f"cannot accept {offer}: {why}; free some space and accept it again, or reject it"
        )


class DropInterrupted(NetError):
    def __init__(self, device: str, attempts: int, why: str) -> None:
        super().__init__(
            f"the drop to device {device} broke off {attempts} times ({why}); what arrived is "
            "kept there, and sending the same files again resumes from it"
        )


class HolderUnreachable(NetError):
    """A thumbnail of a file on another device, which cannot be asked for it now."""

    def __init__(self, device: str, why: str) -> None:
        super().__init__(f"the device holding it ({device}) is not reachable: {why}")


class NoThumbnail(NetError):
    def __init__(self, device: str, size: int) -> None:
        super().__init__(
            f"device {device} has no {size} px thumbnail of it (not made yet, or it is not "
            "an image, a PDF or a video)"
        )


# -- time travel and bisect (sdactors/replay/) -------------------------------------------------


class PositionBeyondHead(SdError):
    def __init__(self, position: int, head: int) -> None:
        super().__init__(f"position {position} is beyond the end of the log (its last is {head})")


class BeforeFirstEvent(SdError):
    def __init__(self, when: str, first: str | None) -> None:
        after = f"the first event is at {first}" if first else "the log is empty"
        super().__init__(f"{when} is before the first event of the log ({after})")


class BadQuery(SdError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the --when query is refused: {reason}")


class ConditionNeverHolds(SdError):
    def __init__(self, head: int) -> None:
        super().__init__(
            f"the condition does not hold even at the end of the log (position {head})"
        )


class ConditionHoldsAtStart(SdError):
    def __init__(self) -> None:
        super().__init__(
            "the condition already holds at position 0 (before any event): nothing to bisect"
        )


class RestoreWouldDropOwnEvents(SdError):
    """``sd log restore`` of a copy that lacks events this device wrote: its peers may hold
    them, and the next event here would take their sequence numbers."""

    def __init__(self, file: str, lost: int | None, first: int, last: int | None) -> None:
        what = (
            f"would drop {lost} of this device's own events (seq {first} to {last})"
            if lost is not None
            else "replaces a log that cannot be read, whose index holds more events than it: "
            "some may be this device's own"
        )
        super().__init__(
            f"restoring {file} {what}, which its peers may already hold; writing after it "
            "would make them refuse this device. Nothing was changed; 'sd log restore --force' "
            "restores anyway, and this device then fetches its own later events back from a "
            "peer before it writes again"
        )


class AwaitingOwnEvents(SdError):
    """A write after a forced restore, before a peer sent this device's own later events back."""

    def __init__(self, waited_s: float | None) -> None:
        why = (
            f"no peer sent them back within {waited_s:.0f} s (see 'sd sync status')"
            if waited_s is not None
            else "start the node ('sd node run') so it fetches them from a peer first"
        )
        super().__init__(
            "this library was restored from an older copy of its log: this device's later "
            "events may be on its peers, and writing before they are back would make the "
            f"peers refuse it; {why}. Nothing was written ('sd log accept-loss' writes "
            "anyway, if no peer holds them)"
        )


# -- a library's databases on a failing disk (sdactors/library/health.py) -----------------------------


class DiskFull(SdError):
    """A write to a library failed for want of space on the data directory's disk."""

    def __init__(self, data: str, free: int, library: str) -> None:
        from sdactors.runtime.units import human_bytes

        super().__init__(
            f"the disk of the data directory {data} is full ({human_bytes(free)} free): "
            f"library {library!r} takes no writes until space is freed there, then goes on "
            "by itself"
        )


class IndexRebuilding(SdError):
    """The index is damaged and a rebuild from the log is under way; reads wait for it."""

    def __init__(self, library: str, percent: int) -> None:
        super().__init__(
            f"the index of library {library!r} is damaged and being rebuilt from the log "
            f"({percent}%); it answers again when that is done"
        )


class IndexRebuildFailed(SdError):
    def __init__(self, library: str, error: str) -> None:
        super().__init__(
            f"the index of library {library!r} is damaged and rebuilding it from the log "
            f"failed ({error}); 'sd projections rebuild' tries again"
        )


class IndexRebuilt(SdError):
    """A command's own process found the index damaged and rebuilt it before answering."""

    def __init__(self, library: str) -> None:
        super().__init__(
            f"the index of library {library!r} was damaged; it has been rebuilt from the log: "
            "run the command again"
        )


class ResultMisshapen(SdError):
    """A command answered with a value its declared result shape does not allow (checked
    under the tests: a bug of the command, or of its declaration)."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"internal error: {command} answered outside its declared shape: {reason}")


class LibraryOpening(SdError):
    def __init__(self, library: str) -> None:
        super().__init__(f"library {library} is still being opened by the node; try again")


# -- media: thumbnails and media data ---------------------------------------------------------


class MediaFailed(SdError):
    """Why a file's media data and thumbnails could not be made. Recorded as the reason of
    its ``media.extracted`` item, so every device lists it and none retries that content."""


class MediaUnreadable(MediaFailed):
    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot be read: {reason}")


class MediaChanged(MediaFailed):
    def __init__(self, while_read: bool) -> None:
        when = "while it was read" if while_read else "since it was indexed"
        super().__init__(f"it changed {when}: it is read again once the index has the change")


class MediaNotSupported(MediaFailed):
    def __init__(self, what: str | None = None) -> None:
        detail = f" ({what})" if what else ""
        super().__init__(f"not an image, a PDF or a video that can be read{detail}")


class MediaDamaged(MediaFailed):
    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"the {what} is damaged or truncated: {detail}"[:500])


class MediaEmpty(MediaFailed):
    def __init__(self, what: str) -> None:
        super().__init__(what)


class MediaTooLarge(MediaFailed):
    def __init__(self, detail: str) -> None:
        super().__init__(f"too large to read safely: {detail}"[:500])


class MediaTimedOut(MediaFailed):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"reading it took longer than {seconds:g} s: its reader was stopped")


class MediaReaderDied(MediaFailed):
    def __init__(self, how: str) -> None:
        super().__init__(f"its reader died ({how}) while reading it")


class ThumbnailsNotWritten(SdError):
    """The thumbnails folder cannot be written (the disk full, read-only): the media job
    stops, since no file is at fault."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"cannot write thumbnails in {path}: {reason}")

    def __reduce__(self) -> tuple:
        return (ThumbnailsNotWritten, (self.path, self.reason))


class MediaWorkersFailed(SdError):
    """The media workers cannot be started: the job stops (nothing is recorded of its files)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the media workers cannot run: {reason}")


class NoThumbnailYet(SdError):
    """A file of this device without its thumbnail, and why."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"no thumbnail yet for {path}: {why}")


class AgentError(SdError):
    """Agents, their grants and their proposals (``sd agent``)."""


class AgentNotFound(AgentError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no agent named {name!r} (agents: {', '.join(known) or 'none'})")


class AgentItemRefused(AgentError):
    """An item of a proposal that no agent may run, or that reaches outside its grant."""

    def __init__(self, agent: str, reason: str) -> None:
        super().__init__(f"refused for agent {agent}: {reason}")


class ProposalNotFound(AgentError):
    def __init__(self, wanted: str, many: bool = False) -> None:
        if many:
            super().__init__(f"more than one proposal starts with {wanted!r}: give more of its id")
        else:
            super().__init__(f"no proposal with id {wanted!r} (see 'sd agent proposals --all')")


class ProposalDecided(AgentError):
    def __init__(self, proposal: str, decision: str, by: str) -> None:
        super().__init__(f"proposal {proposal} was already {decision} by {by}")


class BadItems(AgentError):
    def __init__(self, wanted: str, count: int) -> None:
        super().__init__(f"no item {wanted} in this proposal: its items are numbered 1 to {count}")


class PlaceOutsideLocations(AgentError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is not a location of this device nor a folder inside one: an agent is "
            "granted places in locations (see 'sd location list')"
        )


class NoProvider(AgentError):
    """``sd agent ask`` without a language-model provider in node.toml: what to write there."""

    def __init__(self, node_toml: str) -> None:
        super().__init__(
            f"no language-model provider is configured; add to {node_toml} the lines: "
            '[agents.llm] / url = "http://127.0.0.1:11434/v1" / model = "llama3.2" '
            '(and api_key_env = "VARIABLE" naming the environment variable of its key, '
            "if it needs one)"
        )


class ProviderFailed(AgentError):
    """The language-model provider cannot be reached, refused the request, or answered
    something that is not a chat completion."""

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"the language model at {url}: {why}")


class AskRefused(AgentError):
    """What the model answered to a request in words cannot become a proposal: a command no
    agent may run, a path outside the agent's grant, arguments of the wrong shape, nothing."""

    def __init__(self, why: str) -> None:
        super().__init__(f"no proposal: {why}")


class HttpRefused(SdError):
    """The node's HTTP server cannot start as configured (and the node does not either)."""


class SemanticUnavailable(SdError):
    """Search by meaning cannot run: its model's files are missing or unreadable (the
    message says which and how to install them); plain search still works."""
