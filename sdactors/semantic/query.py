"""A search in words: what it says of when and of what kind, and the rest, its meaning.

``"beach holiday photos from last summer"`` is a kind (``photos``: image), a time (``last
summer``: the most recent June to August that has ended, by the node's clock) and a meaning
(``beach holiday``). Times are read against ``now``, which the caller gives (the node's
clock, which tests set: ``events.clock``), never the process's own idea of it. The words
that only join the others (``from``, ``in``, ``my``...) are dropped. A query that says no
time or kind is all meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# How a search may use meaning (``sd search --mode``: ``sdactors/ops/meaning.py``).
MODES = ("fast", "balanced", "semantic")
# Words that name a kind, as people say them (singular and plural).
KIND_WORDS: dict[str, str] = {
    **{w: "image" for w in ("photo", "photos", "picture", "pictures", "pic", "pics", "image")},
    **{w: "image" for w in ("images", "snapshot", "snapshots", "selfie", "selfies")},
    **{w: "video" for w in ("video", "videos", "movie", "movies", "clip", "clips", "film")},
    **{w: "audio" for w in ("song", "songs", "music", "recording", "recordings", "audio")},
    **{w: "document" for w in ("document", "documents", "doc", "docs", "pdf", "pdfs")},
    **{w: "archive" for w in ("archive", "archives", "zip", "zips")},
    **{w: "book" for w in ("book", "books", "ebook", "ebooks")},
    **{w: "code" for w in ("code", "script", "scripts", "source")},
    **{w: "font" for w in ("font", "fonts")},
}
# Words that carry no meaning of their own in a request.
STOP_WORDS = frozenset(
    "a an the of from in on at to for with my our me all any some files file "
    "taken made during around about that which".split()
)
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# Seasons of the northern hemisphere, by the month they start in and how many months.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
_YEAR = re.compile(r"(19|20)\d\d")


@dataclass(frozen=True)
class Asked:
    """What a query in words asks: its meaning, and the kind and time it names if any
    (``after`` inclusive, ``before`` exclusive, as dates)."""

    meaning: str
    kind: str | None = None
    after: date | None = None
    before: date | None = None

    @property
    def dated(self) -> bool:
        return self.after is not None or self.before is not None


def _month_start(year: int, month: int) -> date:
    """The first day of ``month`` of ``year``, either past December or before January."""
    year += (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


def _season(name: str, today: date, which: str) -> tuple[date, date]:
    """A season's span: ``this`` one (the one holding or starting this year), or ``last``:
    the most recent one that has ended."""
    first = SEASONS[name]
    start = _month_start(today.year, first)
    if which == "this":
        if name == "winter" and today.month < 3:
            start = _month_start(today.year - 1, first)
        return start, _month_start(start.year, start.month + 3)
    while _month_start(start.year, start.month + 3) > today:
        start = _month_start(start.year - 1, start.month)
    return start, _month_start(start.year, start.month + 3)


def _span(words: list[str], i: int, today: date) -> tuple[int, date, date] | None:
    """The time that starts at ``words[i]``, if one does: how many words it takes, its span."""
    word = words[i]
    following = words[i + 1] if i + 1 < len(words) else None
    if word == "today":
        return 1, today, today + timedelta(1)
    if word == "yesterday":
        return 1, today - timedelta(1), today
    if word in ("last", "this", "past") and following is not None:
        which = "this" if word == "this" else "last"
        if following in SEASONS:
            return (2, *_season(following, today, which))
        if following == "year":
            year = today.year - (which == "last")
            return 2, date(year, 1, 1), date(year + 1, 1, 1)
        if following == "month":
            start = _month_start(today.year, today.month - (which == "last"))
            return 2, start, _month_start(start.year, start.month + 1)
        if following == "week":
            monday = today - timedelta(today.weekday()) - timedelta(7 * (which == "last"))
            return 2, monday, monday + timedelta(7)
        if following in MONTHS:
            month = MONTHS[following]
            year = today.year if (which == "this" or month < today.month) else today.year - 1
            return 2, _month_start(year, month), _month_start(year, month + 1)
        count = words[i + 2] if i + 2 < len(words) else None
        if following.isdigit() and count in UNITS:
            return 3, today - timedelta(int(following) * UNITS[count]), today + timedelta(1)
        if following.isdigit() and count in ("month", "months"):
            return 3, _month_start(today.year, today.month - int(following)), today + timedelta(1)
    with_year = following is not None and _YEAR.fullmatch(following) is not None
    # "may" alone is a verb more often than a month.
    if word in MONTHS and (word != "may" or with_year):
        month = MONTHS[word]
        if with_year:
            assert following is not None
            year = int(following)
            return 2, _month_start(year, month), _month_start(year, month + 1)
        year = today.year if month <= today.month else today.year - 1
        return 1, _month_start(year, month), _month_start(year, month + 1)
    if word in SEASONS and with_year:
        assert following is not None
        start = _month_start(int(following), SEASONS[word])
        return 2, start, _month_start(start.year, start.month + 3)
    if _YEAR.fullmatch(word):
        return 1, date(int(word), 1, 1), date(int(word) + 1, 1, 1)
    return None


def parse(query: str, now_s: float) -> Asked:
    """What ``query`` asks, its times read on the day ``now_s`` (seconds since the epoch,
    UTC) falls on."""
    today = datetime.fromtimestamp(now_s, timezone.utc).date()
    words = re.findall(r"[\w']+", query.lower())
    kept: list[str] = []
    kind = after = before = None
    i = 0
    while i < len(words):
        span = _span(words, i, today)
        if span is not None:
            taken, start, end = span
            after = start if after is None else max(after, start)
            before = end if before is None else min(before, end)
            i += taken
            continue
        word = words[i]
        if word in KIND_WORDS and kind is None:
            kind = KIND_WORDS[word]
        elif word not in STOP_WORDS:
            kept.append(word)
        i += 1
    return Asked(" ".join(kept), kind, after, before)
