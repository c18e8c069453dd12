"""The LibraryManager: creates, lists, opens and closes the libraries of a data directory.

It is the one place that opens and closes this process's libraries, so two parts of the
node asking for the same library share one Journal instead of fighting over the lock. It
answers with a library's id (messages and answers are data); the open library itself is in
:class:`OpenLibraries`, which the node reads without asking the actor.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import pykka

from events.domain.library import NONCE_LEN, LibraryCreated, creator_library_id
from events.keys import DeviceKey
from sdactors.library.config import (
    LibraryConfig,
    create_library_files,
    find_library,
    list_libraries,
    remove_library_files,
)
from sdactors.library.handle import Library
from sdactors.library.journal import DeviceInfo
from sdactors.runtime.errors import ActorFailed
from sdactors.runtime.lock import LOCK_WAIT_S
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Later
from sdactors.runtime.paths import DataDir
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CreateLibrary:
    """Create a library and open it; the answer is its id. ``library_id`` is given only to
    restore a known one; ``empty`` leaves its log empty (a restore fills it from the
    original's events)."""

    name: str
    library_id: str | None = None
    empty: bool = False


@dataclass(frozen=True, slots=True)
class OpenLibrary:
    """Open a library (or share the one open); the answer is its id. A library is opened
    (its lock taken, its index caught up) in a thread of its own: opening a large one never
    holds up another, nor this actor."""

    wanted: str | None
    # Seconds to wait for another process to let go of the library (None: the default).
    lock_wait: float | None = None
    # If this opens it: why its index is folded anew from the log (see ``Library``).
    rebuild: str | None = None


@dataclass(frozen=True, slots=True)
class _Constructed:
    """Told by an opening thread: the library is open (in OpenLibraries), or why not."""

    library_id: str
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class CloseLibrary:
    library_id: str


@dataclass(frozen=True, slots=True)
class DiscardLibrary:
    """Close a library and delete its files: only for a creation that failed half-way."""

    library_id: str


@dataclass(frozen=True, slots=True)
class ListLibraries:
    pass


@dataclass(frozen=True, slots=True)
class CloseAll:
    pass


class OpenLibraries:
    """The libraries open in this process, by id: the LibraryManager puts and takes them,
    anyone reads them. Thread-safe; it outlives the actor (a restarted manager keeps them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Library] = {}

    def put(self, lib: Library) -> None:
        with self._lock:
            self._open[lib.config.id] = lib

    def pop(self, library_id: str) -> Library | None:
        with self._lock:
            return self._open.pop(library_id, None)

    def find(self, library_id: str) -> Library | None:
        with self._lock:
            return self._open.get(library_id)

    def get(self, library_id: str) -> Library:
        """The library the manager answered with (closed since: say so)."""
        lib = self.find(library_id)
        if lib is None:
            raise ActorFailed(f"library {library_id} was closed as it opened; try again")
        return lib

    def take_all(self) -> list[Library]:
        with self._lock:
            libs = list(self._open.values())
            self._open.clear()
        return libs


class LibraryManager(SupervisedActor):
    def __init__(
        self,
        data: DataDir,
        key: DeviceKey,
        device: DeviceInfo,
        libraries: OpenLibraries,
        on_crash: CrashHook | None = None,
        jobs_resume: bool = False,
    ) -> None:
        """``jobs_resume``: the libraries are a node's, whose jobs resume when it restarts."""
        super().__init__(on_crash)
        self._jobs_resume = jobs_resume
        self._data = data
        self._key = key
        self._device = device
        self._open = libraries
        # Libraries being opened, and who waits for each.
        self._opening: dict[str, list[Later]] = {}

    def on_stop(self) -> None:
        self._close_all()

    def on_receive(self, message: object) -> object:
        if isinstance(message, ListLibraries):
            return list_libraries(self._data)
        if isinstance(message, OpenLibrary):
            return self._open_later(message)
        if isinstance(message, _Constructed):
            self._constructed(message)
            return None
        if isinstance(message, CreateLibrary):
            return self._create(message)
        if isinstance(message, CloseLibrary):
            lib = self._open.pop(message.library_id)
            if lib is not None:
                lib.close()
            return None
        if isinstance(message, DiscardLibrary):
            lib = self._open.pop(message.library_id)
            if lib is not None:
                lib.close()
                remove_library_files(lib.config)
            return None
        if isinstance(message, CloseAll):
            self._close_all()
            return None
        raise TypeError(f"LibraryManager got an unexpected message: {message!r}")

    def _open_later(self, message: OpenLibrary) -> str | Later:
        """The library's id if it is open; else it opens, and the answer comes later. A
        library that cannot be found is the asker's error."""
        config = find_library(self._data, message.wanted)
        if self._open.find(config.id) is not None:
            return config.id
        answer = Later()
        waiting = self._opening.get(config.id)
        if waiting is not None:
            waiting.append(answer)
            return answer
        self._opening[config.id] = [answer]
        wait = LOCK_WAIT_S if message.lock_wait is None else message.lock_wait
        me = self.actor_ref

        def construct() -> None:
            lib, error = None, None
            try:
                lib = Library(
                    config, self._key, self._device, wait, self._jobs_resume, message.rebuild
                )
                self._open.put(lib)
            except BaseException as exc:  # noqa: BLE001 - the waiters get it
                error = exc
            try:
                me.tell(_Constructed(config.id, error))
            except pykka.ActorDeadError:
                if lib is not None:  # the manager stopped meanwhile: nobody will use it
                    self._open.pop(config.id)
                    lib.close()

        threading.Thread(target=construct, name=f"open {config.name}", daemon=True).start()
        return answer

    def _constructed(self, message: _Constructed) -> None:
        waiting = self._opening.pop(message.library_id, [])
        error = message.error
        if error is None:
            lib = self._open.find(message.library_id)
            name = lib.config.name if lib is not None else None
            log.info("library_opened", library=message.library_id, name=name)
            for answer in waiting:
                answer.set(message.library_id)
            return
        for answer in waiting:
            answer.set_exception(exc_info=(type(error), error, error.__traceback__))

    def _open_library(self, config: LibraryConfig) -> Library:
        lib = self._open.find(config.id)
        if lib is None:
            lib = Library(config, self._key, self._device, LOCK_WAIT_S, self._jobs_resume)
            self._open.put(lib)
            log.info("library_opened", library=config.id, name=config.name)
        return lib

    def _create(self, message: CreateLibrary) -> str:
        library_id, nonce = message.library_id, os.urandom(NONCE_LEN)
        if library_id is None:
            # A new library's id proves this device created it (its first admin).
            library_id = creator_library_id(self._key.public, nonce).hex()
        config = create_library_files(self._data, message.name, library_id)
        try:
            lib = self._open_library(config)
            if not message.empty:
                lib.append_typed(LibraryCreated(config.id_bytes, config.name, nonce))
        except BaseException:
            lib = self._open.pop(config.id)
            if lib is not None:
                lib.close()
            remove_library_files(config)
            raise
        log.info("library_created", library=config.id, name=config.name)
        return config.id

    def _close_all(self) -> None:
        for lib in self._open.take_all():
            lib.close()
