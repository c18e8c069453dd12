"""Numbers for people: sizes and lengths of time, as every message and table shows them."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """Sizes for people, in decimal units (as disks and the MB/s of speed tests are)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        if value < 1000 or unit == "ZB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def human_span(ms: int) -> str:
    """A length of time for people, rounded to the two largest units: ``2d 3h``, ``5h 12m``,
    ``7m``, ``40s``."""
    seconds = round(ms / 1000)
    if seconds >= 86400 - 1800:
        days, hours = divmod(round(seconds / 3600), 24)
        return f"{days}d {hours}h"
    if seconds >= 3600 - 30:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours}h {minutes}m"
    return f"{round(seconds / 60)}m" if seconds >= 60 else f"{seconds}s"
