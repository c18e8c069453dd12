"""Tag suggestions: a file without tags gets the tags its nearest tagged neighbours share.

People tag some files of a place and not the rest: the photos of one trip, the invoices of
one supplier. A file near those (in the same folder or one beside it, made about the same
time, with a name of the same words or of the same meaning: "seaside vacation" and "beach
holiday") most likely belongs with them. So for each untagged file in the grant, the tagged
files of this device are scored by nearness: folder, time and name (its words or their
meaning, whichever says more). A tag is suggested when the nearest neighbours carrying it
outweigh those that do not (``SHARE``), by at least one good neighbour's worth
(``ENOUGH``); its item names them.

Only tags the agent is granted are read from neighbours and proposed; a file with any tag at
all is left alone (someone already chose for it). Each proposal is one tag for the files of
one folder, so a conclusion keeps its id while nothing near it changes, and a person accepts
or rejects a tag for a folder at once.

Meaning is the semantic model's (``sdactors.semantic``): each distinct name, as words, is
embedded once, here (the vectors job's file holds a name's meaning mixed with its folders',
and may be behind). A name alike in meaning brings a neighbour in from anywhere, so the
untagged names are compared with the tagged ones as matrices, in chunks (``_Alike``).
The model is coarse (unrelated names can be as alike as synonyms), so meaning is trusted
only where it says something: a neighbour that only its name's meaning makes near votes
for a tag only when that tag is clearly more common among the files alike in meaning than
among all tagged files (``LIFT``). A tag on nearly every tagged file is spread by folder
and words, never by meaning; and meaning needs other granted tags beside it to compare.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import ClassVar, Iterable, Sequence

import numpy as np

from events.domain.agents import ITEMS_MAX
from events.envelope import Event
from projections.annotations import annotations_of
from projections.files.query import FileAt, device_files
from projections.tags import live_tags
from sdactors.agent import lines
from sdactors.agent.protocol import AgentView, Item, Proposal
from sdactors.semantic.model import embed
from sdactors.semantic.model import words as meant

NAME = "tags"
# Neighbours that vote on a file's tags.
NEAREST = 5
# Nearness: the same folder counts most; a folder beside it (same parent) less. Time within a
# day, then within a week. A name: its share of the words (Jaccard), or how alike in meaning
# (``alike``), whichever is more, weighted.
SAME_FOLDER = 1.0
SIBLING_FOLDER = 0.5
SAME_DAY = 0.5
SAME_WEEK = 0.25
NAME_WEIGHT = 1.0
DAY_NS = 86_400 * 10**9
# A neighbour counts only this near (a file alone in a folder elsewhere says nothing).
NEAR = 1.0
# A tag is proposed when its neighbours hold this share of the nearness of all NEAREST...
SHARE = 0.5
# ... and at least this much of it: one neighbour in the same folder with a like name.
ENOUGH = 1.5
# A word on more tagged files than this brings no neighbour in by itself (see ``_Near``).
COMMON = 100
# Names alike in meaning: the cosine of their vectors. Measured on pairs of names: names of
# one subject from 0.3 ("beach holiday" ~ "seaside vacation" 0.30, "beach trip" ~ "seaside
# vacation" 0.42, "wedding photos" ~ "marriage pictures" 0.80); near misses below
# ("holiday beach sunset" ~ "seaside vacation" 0.22). The model is coarse: unrelated names
# are mostly below 0.1 ("beach holiday" ~ "tax return" 0.02) but not all: of 1,225 pairs of
# 50 everyday names, 18 reach 0.3, some unrelated ("birthday cake" ~ "cat sleeping" 0.35).
# So meaning counts no more than the same words would, one neighbour never suffices
# (``ENOUGH``), and a name alike to more than ALIKE_FEW tagged names is alike by chance, as
# a common word, and brings none in. That bound alone does not close the gap (with one tag
# on every tagged file, unrelated names in other folders got it: 756 of 1,000 with 200
# tagged, 13 with 2,000); the lift below does. Below ALIKE names mean nothing alike; from
# FULLY_ALIKE, the same words.
ALIKE = 0.25
FULLY_ALIKE = 0.3
ALIKE_FEW = 10
# A tag only meaning brings (its neighbours would not be near without their names' meaning:
# ``by_meaning``) must be LIFT times as common among the files alike in meaning to the
# file's name (``_Alike.candidates``) as among all tagged files of the grant, and on at
# least LIFT_FEW of them: the model's chance likeness spreads a tag as often as it is
# common, a true synonym more. So a tag on nearly every tagged file is never spread by
# meaning, and a rare one needs three alike files. Measured (tools/bench_tags.py, 1,000
# unrelated names alone in folders elsewhere; 15 planted names in other words of 5 subjects
# of 5 tagged files): one tag on all tagged files, 200 or 2,000 of them, unrelated files
# tagged 111 and 319 of 1,000 without the lift, 3 and 3 with (those by a rare planted tag,
# not the common one), recall the same; 20 tags (one per folder) 17 and 38 of 1,000 with
# at least 2 alike files, 4 and 5 with 3, recall the same (8 of 15 with 200 tagged; with
# 2,000, 2: ALIKE_FEW drops most names then).
LIFT = 2.0
LIFT_FEW = 3
# Untagged names compared with all tagged ones in one product (its memory: CHUNK x names).
CHUNK = 2048
# The tagged names one name brings in by meaning, the most alike (as many as vote).
ALIKE_MAX = NEAREST
WORD = re.compile(r"[^\W_]+")
# Words in names that say nothing of what a file is about.
NOISE = frozenset({"img", "dsc", "pxl", "scan", "copy", "file", "new", "final", "the", "and"})


def words(name: bytes) -> frozenset[str]:
    """The words of a file's name, without its extension, case-folded; numbers of fewer
    than four digits (counters: IMG_0042) left out, years kept."""
    stem, _ = os.path.splitext(os.fsdecode(name))
    found = set()
    for word in WORD.findall(stem.casefold()):
        if word in NOISE or (word.isdigit() and len(word) < 4):
            continue
        if word.isdigit() and len(word) > 4:
            continue
        found.add(word)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Known:
    """A file of this device, as the agent compares it."""

    path: bytes
    folder: bytes
    # The folder above its folder: files with the same one are in folders side by side.
    parent: bytes
    mtime_ns: int
    words: frozenset[str]
    # Its name as the semantic model reads it ("seaside vacation"): what is alike in meaning.
    meaning: str
    tags: frozenset[str]

    @classmethod
    def of(cls, f: FileAt, tags: Iterable[str]) -> "Known":
        folder = os.path.dirname(f.path)
        return cls(
            f.path,
            folder,
            os.path.dirname(folder),
            f.child.mtime_ns,
            words(f.child.name),
            meant(os.fsdecode(f.child.name)),
            frozenset(tags),
        )


def alike(cosine: float) -> float:
    """How much two names' meanings make them one name (0 to 1), from their cosine."""
    return 0.0 if cosine < ALIKE else min(1.0, cosine / FULLY_ALIKE)


def word_share(a: Known, b: Known) -> float:
    """The share of their words the names of ``a`` and ``b`` have in common (Jaccard)."""
    shared = a.words & b.words
    return len(shared) / len(a.words | b.words) if shared else 0.0


def nearness(a: Known, b: Known, meaning: float = 0.0) -> float:
    """How near ``b`` is to ``a`` (:func:`how_near` says it in words); ``meaning``: how alike
    their names are in meaning (:func:`alike`)."""
    score = 0.0
    if a.folder == b.folder:
        score += SAME_FOLDER
    elif a.parent == b.parent:
        score += SIBLING_FOLDER
    apart = abs(a.mtime_ns - b.mtime_ns)
    if apart <= DAY_NS:
        score += SAME_DAY
    elif apart <= 7 * DAY_NS:
        score += SAME_WEEK
    return score + NAME_WEIGHT * max(word_share(a, b), meaning)


def by_meaning(a: Known, b: Known) -> bool:
    """Whether only its name's meaning makes ``b`` near ``a``: without it, its folder, time
    and name words would not (a word or two in common, far away, are not enough)."""
    return nearness(a, b) < NEAR


def how_near(a: Known, b: Known, meaning: float = 0.0) -> str:
    """In which ways ``b`` is near ``a``, for an item's reason."""
    how = []
    if a.folder == b.folder:
        how.append("same folder")
    elif a.parent == b.parent:
        how.append("folder beside it")
    apart = abs(a.mtime_ns - b.mtime_ns)
    if apart <= DAY_NS:
        how.append("same day")
    elif apart <= 7 * DAY_NS:
        how.append("same week")
    # The name's term as it was counted: its meaning when that says more than its words.
    same = word_share(a, b)
    if meaning > same:
        how.append(f"name means alike: {b.meaning} ~ {a.meaning}")
    elif same:
        how.append("name: " + " ".join(sorted(a.words & b.words)))
    return ", ".join(how)


class _Alike:
    """Which tagged names are alike in meaning to which untagged ones, and how much.

    Names, not files: a distinct name is embedded and compared once, however many files
    carry it (camera counters, "scan", dated reports are one name each). The untagged names
    are compared with every tagged one as a matrix product, ``CHUNK`` rows at a time; each
    keeps its ``ALIKE_MAX`` most alike at or above ``ALIKE``, unless more than ``ALIKE_FEW``
    are (then none: alike by chance)."""

    def __init__(self, untagged: Sequence[Known], tagged: Sequence[Known]) -> None:
        self.by_name: dict[str, list[Known]] = defaultdict(list)
        for one in tagged:
            if one.meaning:
                self.by_name[one.meaning].append(one)
        self.found: dict[str, dict[str, float]] = {}
        mine = sorted({one.meaning for one in untagged if one.meaning})
        theirs = sorted(self.by_name)
        if not mine or not theirs:
            return
        known = embed(theirs).T
        for start in range(0, len(mine), CHUNK):
            names = mine[start : start + CHUNK]
            cosines = embed(names) @ known
            found = np.flatnonzero(cosines >= ALIKE)
            rows, cols = np.divmod(found, len(theirs))
            values = cosines.ravel()[found]
            few = np.bincount(rows, minlength=len(names))[rows] <= ALIKE_FEW
            rows, cols, values = rows[few], cols[few], values[few]
            # By name, the most alike first (cosines are at most 1: one key sorts both);
            # each name's first ALIKE_MAX kept.
            order = np.argsort(rows - values / 4)
            rows, cols, values = rows[order], cols[order], values[order]
            rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
            kept = rank < ALIKE_MAX
            rows, cols, values = rows[kept], cols[kept], values[kept]
            firsts, starts = np.unique(rows, return_index=True)
            ends = np.r_[starts[1:], len(rows)].astype(int)
            for row, at, to in zip(firsts.tolist(), starts.tolist(), ends.tolist()):
                self.found[names[row]] = {
                    theirs[col]: alike(c)
                    for col, c in zip(cols[at:to].tolist(), values[at:to].tolist())
                }

    def of(self, one: Known) -> dict[str, float]:
        """The tagged names alike to the name of ``one``, and how much (:func:`alike`)."""
        return self.found.get(one.meaning, {})

    def candidates(self, one: Known) -> Iterable[Known]:
        """The tagged files whose names are alike to that of ``one`` (a name on more than
        ``COMMON`` tagged files brings none in by itself, as a common word)."""
        for name in self.found.get(one.meaning, ()):
            found = self.by_name[name]
            if len(found) <= COMMON:
                yield from found


class _Near:
    """The tagged files, found by what can make one near a file: a neighbour scores at least
    ``NEAR`` only in the same folder, in a folder beside it, with a name word in common or
    a name alike in meaning (``_Alike`` finds those; time alone gives at most 0.5). So a
    file is compared with those, not with every file; a word on more than ``COMMON`` tagged
    files says too little to bring any in by itself, and when the folders beside a file's
    hold more than that, only its own folder's are."""

    def __init__(self, tagged: Sequence[Known]) -> None:
        self.by_folder: dict[bytes, list[Known]] = defaultdict(list)
        # By the folder above theirs: the same folder and the folders beside it at once.
        self.by_parent: dict[bytes, list[Known]] = defaultdict(list)
        self.by_word: dict[str, list[Known]] = defaultdict(list)
        for one in tagged:
            self.by_folder[one.folder].append(one)
            self.by_parent[one.parent].append(one)
            for word in one.words:
                self.by_word[word].append(one)

    def candidates(self, one: Known) -> dict[bytes, Known]:
        """The tagged files in its folder, beside it, or sharing a name word with it, by
        path."""
        beside = self.by_parent.get(one.parent, ())
        if len(beside) > COMMON:  # many folders side by side: its own folder's files only
            beside = self.by_folder.get(one.folder, ())
        seen: dict[bytes, Known] = {other.path: other for other in beside}
        for word in one.words:
            found = self.by_word.get(word, ())
            if len(found) <= COMMON:
                seen.update((other.path, other) for other in found)
        return seen


def suggestions(
    untagged: Sequence[Known], tagged: Sequence[Known]
) -> Iterable[tuple[Known, str, str]]:
    """``(file, tag, reason)`` for each tag the nearest tagged files suggest for a file."""
    near = _Near(tagged)
    meanings = _Alike(untagged, tagged)
    # How common each tag is among all tagged files: what a tag by meaning alone must beat.
    common: dict[str, int] = defaultdict(int)
    for other in tagged:
        for tag in other.tags:
            common[tag] += 1
    for one in untagged:
        scored = []
        means = meanings.of(one)
        candidates = near.candidates(one)
        if means:
            candidates.update((other.path, other) for other in meanings.candidates(one))
        for other in candidates.values():
            score = nearness(one, other, means.get(other.meaning, 0.0))
            if score >= NEAR:
                scored.append((-score, other.path, other))
        nearest = sorted(scored)[:NEAREST] if len(scored) > 1 else scored
        total = -sum(s[0] for s in nearest)
        votes: dict[str, list[tuple[float, Known]]] = defaultdict(list)
        for neg, _, other in nearest:
            for tag in other.tags:
                votes[tag].append((-neg, other))
        alike = list(meanings.candidates(one)) if means else []
        for tag, held in sorted(votes.items()):
            if not lifted(tag, alike, common[tag] / len(tagged)):
                # Not lifted: the neighbours only meaning makes near do not vote for it.
                held = [(s, other) for s, other in held if not by_meaning(one, other)]
            weight = sum(score for score, _ in held)
            if weight < ENOUGH or weight < SHARE * total:
                continue
            named = "; ".join(
                f"{os.fsdecode(os.path.basename(other.path))} "
                f"({how_near(one, other, means.get(other.meaning, 0.0))})"
                for _, other in held
            )
            yield one, tag, f"{len(held)} of its {len(nearest)} nearest files carry {tag}: {named}"


def lifted(tag: str, alike: Sequence[Known], share: float) -> bool:
    """Whether ``tag`` is clearly more common among the files ``alike`` in meaning to one
    than its ``share`` of all tagged files (``LIFT``, ``LIFT_FEW``)."""
    carrying = sum(1 for other in alike if tag in other.tags)
    return carrying >= LIFT_FEW and carrying >= LIFT * share * len(alike)


class Tags:
    """Tag suggestions (``sd agent enable tags``; grant it the tags it may suggest)."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "tags for untagged files, from their nearest tagged neighbours"
    follows: ClassVar[tuple[str, ...]] = ("entries.", "file.tagged", "file.untagged")
    reads: ClassVar[tuple[str, ...]] = ("files", "annotations", "tags")

    def propose(self, view: AgentView, events: Sequence[Event]) -> Iterable[Proposal]:
        allowed = view.granted_tags()
        if not allowed:
            return []
        with view.index() as db:
            untagged, tagged = self._files(db, view, allowed)
        by_place: dict[tuple[str, bytes], list[Item]] = defaultdict(list)
        for one, tag, reason in suggestions(untagged, tagged):
            by_place[(tag, one.folder)].append(
                Item(lines.reason(reason), "tag.add", {"paths": [one.path], "tag": tag})
            )
        out = []
        for (tag, folder), items in sorted(by_place.items()):
            for start in range(0, len(items), ITEMS_MAX):
                chunk = tuple(items[start : start + ITEMS_MAX])
                many = "file" if len(chunk) == 1 else f"{len(chunk)} files"
                title = f"tag {tag} on {many} in {os.fsdecode(folder)}"
                out.append(Proposal(NAME, lines.title(title), chunk))
        return out

    def _files(
        self, db: sqlite3.Connection, view: AgentView, allowed: frozenset[bytes]
    ) -> tuple[list[Known], list[Known]]:
        """This device's files in the grant: those without any tag, and those with a
        granted one (only granted tags are read)."""
        names = {tag: name for tag, name, _ in live_tags(db) if tag in allowed}
        files = [f for f in device_files(db, view.device) if view.granted(f.path)]
        shown = annotations_of(db, [(view.device, f.child.eid, f.child.cid) for f in files])
        untagged, tagged = [], []
        granted_names = frozenset(names.values())
        for f in files:
            found = shown.get((view.device, f.child.eid))
            tags = found.tags if found is not None else ()
            if not tags:
                untagged.append(Known.of(f, ()))
            elif granted_names & set(tags):
                tagged.append(Known.of(f, granted_names & set(tags)))
        return untagged, tagged
