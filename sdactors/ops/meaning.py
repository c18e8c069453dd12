"""Search by meaning: ``sd search --mode fast|balanced|semantic`` (``browse.py: Search``).

``fast`` and ``balanced`` start from the names plain search finds (every term of the query,
then each term alone: the FTS candidates) and put them in order of meaning: ``fast`` by the
name's alone, on the first ``FAST_CANDIDATES``; ``balanced`` by the name and the folders it
is in, on its best ``BALANCED_CANDIDATES`` and the ``NEAREST`` entries by meaning, the words
of the query found in the path counting too. ``semantic`` starts from meaning: every entry's
vector (``sdactors/semantic/vectors.py``) is scored (numpy, brute force: 1M entries in tens
of milliseconds, ``tools/bench_semantic.py``), and the best, widened until enough pass the
filters, are handed to plain search's filters as its candidates (``Filters.entries``),
ordered by score. The kind and the time a query names in
words are filters too (``sdactors/semantic/query.py``): a picture's time is when it was
taken, anything else's when it was modified.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from projections.files.media import MediaFilter, matching
from projections.files.search import Filters, Hit, search
from sdactors.semantic.model import embed, entry_text, words
from sdactors.semantic.query import Asked, parse
from sdactors.semantic.vectors import Vectors, kind_code, load, path_in, refresh

# Plain search's best this many are re-ranked: its time grows with them (a filter that
# refuses most names makes it read on), and past them what plain search ranks low matches
# the words by chance more than by meaning.
FAST_CANDIDATES = 100
BALANCED_CANDIDATES = 50
# Balanced also re-ranks the entries nearest in meaning, whatever their words.
NEAREST = 50
# Rows found by meaning beyond the limit, for those the index no longer holds (vectors
# behind it); times 4 when a filter the vectors cannot apply is given (--ext, --under).
SPARE = 8
# Of balanced's score, how much the query's words found in the path count (the rest is
# meaning).
WORDS_WEIGHT = 0.3
# Kinds whose time is when they were taken (media data), not when modified.
TAKEN_KINDS = ("image", "video")


class Scored(NamedTuple):
    hit: Hit
    score: float


def _ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) * 10**9


def narrowed(db: sqlite3.Connection, filters: Filters, asked: Asked) -> Filters:
    """``filters`` and the kind and time the query names (those given as options win)."""
    kind = filters.kind or asked.kind
    filters = replace(filters, kind=kind)
    if not asked.dated:
        return filters
    if kind in TAKEN_KINDS:
        after = None if asked.after is None else asked.after.isoformat()
        before = None if asked.before is None else asked.before.isoformat()
        return filters.only(matching(db, MediaFilter(taken_after=after, taken_before=before)))
    return replace(
        filters,
        modified_after=filters.modified_after
        if asked.after is None
        else max(filters.modified_after or 0, _ns(asked.after)),
        modified_before=filters.modified_before
        if asked.before is None
        else min(filters.modified_before or 1 << 63, _ns(asked.before)),
    )


def by_meaning(
    db: sqlite3.Connection,
    root: Path,
    mode: str,
    query: str,
    filters: Filters,
    limit: int,
    now_s: float,
    current: bool = True,
    served: bool = False,
) -> list[Scored]:
    """The best ``limit`` entries by meaning for ``mode``; ``root`` is the library's folder
    (its vectors); ``current``: the index is the library's own now (not one of ``--at``),
    whose vectors may be saved; ``served``: a node runs the search, whose vectors job keeps
    the vectors up with the index (a search makes them only if they are lost)."""
    asked = parse(query, now_s)
    filters = narrowed(db, filters, asked)
    meaning = words(asked.meaning)
    target = embed([meaning])[0] if meaning else None
    if mode == "semantic":
        return _semantic(db, root, target, filters, limit, current, served)
    nearest = []
    if mode == "balanced" and target is not None:
        found = _semantic(db, root, target, filters, NEAREST, current, served)
        nearest = [s.hit for s in found]
    return _reranked(db, mode, asked.meaning, meaning, target, filters, limit, nearest)


def _semantic(
    db: sqlite3.Connection,
    root: Path,
    target: np.ndarray | None,
    filters: Filters,
    limit: int,
    current: bool,
    served: bool,
) -> list[Scored]:
    vectors = _vectors(db, root, current, served)
    among = _among(vectors, filters)
    available = len(vectors.ids) if among is None else int(among.sum())
    # Each read of a candidate reads its folder's listing: ask for few more than needed.
    unknown = filters.ext is not None or filters.under is not None
    wanted = limit * 4 if unknown else limit + SPARE
    while True:
        if target is None:
            # Nothing but filters asked: their entries, in the order of their ids.
            ids = vectors.ids if among is None else vectors.ids[among]
            ids, scores = ids[:wanted], np.zeros(min(wanted, len(ids)), np.float32)
        else:
            ids, scores = vectors.nearest(target, wanted, among)
        score_of = dict(zip(ids.tolist(), scores.tolist()))
        hits = search(db, "", filters.only(frozenset(score_of)), limit, _best_first(score_of))
        if len(hits) >= limit or wanted >= available:
            return [Scored(h, score_of[h.entry]) for h in hits]
        wanted *= 8


def _among(vectors: Vectors, filters: Filters) -> np.ndarray | None:
    """The rows the filters may keep (None: all), from what the vectors file holds of each
    entry: a row refused here could not pass the search's own filters, which decide."""
    among = None

    def narrow(mask: np.ndarray) -> None:
        nonlocal among
        among = mask if among is None else among & mask

    if filters.entries is not None:
        narrow(np.isin(vectors.ids, np.fromiter(filters.entries, np.int64, len(filters.entries))))
    if filters.kind is not None:
        narrow(vectors.kinds == kind_code(filters.kind))
    if filters.modified_after is not None:
        narrow(vectors.mtimes >= filters.modified_after)
    if filters.modified_before is not None:
        narrow(vectors.mtimes < filters.modified_before)
    return among


def _best_first(score_of: dict[int, float]) -> Callable[[int], float]:
    return lambda entry: -score_of[entry]


def _vectors(db: sqlite3.Connection, root: Path, current: bool, served: bool) -> Vectors:
    """The vectors of the index: as the vectors job left them (in a node, which runs it
    after each change: a search there never waits on a whole read of the index), or
    brought up to the index now if they are lost, or behind it where no node runs (for an
    index of another moment, ``--at``, without being saved)."""
    if served and current:
        found = load(path_in(root))
        if found is not None:
            return found
    update = refresh(root, db, save_to_disk=current)
    if update is not None:
        return update.vectors
    return load(path_in(root)) or Vectors.empty()


def _reranked(
    db: sqlite3.Connection,
    mode: str,
    phrase: str,
    meaning: str,
    target: np.ndarray | None,
    filters: Filters,
    limit: int,
    nearest: list[Hit],
) -> list[Scored]:
    most = max(limit, FAST_CANDIDATES if mode == "fast" else BALANCED_CANDIDATES)
    terms = phrase.split()
    found: dict[int, Hit] = {}
    # Plain search refusing most of what it reads reads on and on (a common word of pictures
    # only: half a second at 1M entries): the kind and times are checked on its answers.
    loose = replace(filters, kind=None, modified_after=None, modified_before=None)
    for text in ([phrase] if phrase else []) + (terms if len(terms) > 1 else []):
        for hit in search(db, text, loose, most, names_only=True):
            if _passes(hit, filters):
                found.setdefault(hit.entry, hit)
        if len(found) >= most:
            break
    if not found and filters.entries is not None:
        # Nothing named by the words: the filters' own entries are the candidates.
        for hit in search(db, "", filters, most):
            found.setdefault(hit.entry, hit)
    hits = list(found.values())[:most]
    hits += [h for h in nearest if h.entry not in found]
    if not hits:
        return []
    if target is None:
        return [Scored(h, 0.0) for h in hits[:limit]]
    if mode == "fast":
        texts = [words(h.name.decode("utf-8", "replace")) for h in hits]
    else:
        texts = [_text_of(h) for h in hits]
    scores = embed(texts) @ target
    if mode == "balanced":
        wanted = set(meaning.split())
        present = np.array(
            [len(wanted & set(t.split())) / len(wanted) if wanted else 0.0 for t in texts]
        )
        scores = (1 - WORDS_WEIGHT) * scores + WORDS_WEIGHT * present
    order = np.argsort(-scores, kind="stable")[:limit]
    return [Scored(hits[i], float(scores[i])) for i in order]


def _passes(hit: Hit, filters: Filters) -> bool:
    """Whether ``hit`` is of the kind and times ``filters`` ask."""
    if filters.kind is not None and hit.kind != filters.kind:
        return False
    if filters.modified_after is not None and hit.mtime_ns < filters.modified_after:
        return False
    return filters.modified_before is None or hit.mtime_ns < filters.modified_before


def _text_of(hit: Hit) -> str:
    folders = os.path.dirname(hit.path).decode("utf-8", "replace").split("/")
    return entry_text(hit.name.decode("utf-8", "replace"), [f for f in folders if f])
