"""Near-duplicate pictures: files whose 64-bit perceptual hashes (dHash, ``media.phash``)
differ in at most a few bits (a resized, recompressed or re-saved copy), found without
comparing every pair.

**Finding the pairs** (multi-index hashing). The 64 bits are cut into ``m`` bands, band ``i``
searched within a radius ``r_i``, such that ``sum(r_i + 1) > distance``: two hashes within
``distance`` of each other then differ in at most ``r_i`` bits of some band ``i``
(pigeonhole: were they ``r_i + 1`` apart in every band, they would be ``sum(r_i + 1)``
apart in all). Each band is a table from its bits to the hashes holding them; a hash's
candidates are the hashes whose band bits are its own, or its own with up to ``r_i`` bits
flipped; every candidate is then checked on the whole hash. ``m`` and the radii are chosen
per search by an estimate of the work for this many hashes (a radius of one, or none, for
the small distances people use): with ``distance + 1`` bands of exact bits (the textbook
choice), 100k hashes make bands of 9 bits holding some 200 hashes each, a candidate list
twenty times as long.

**Groups** are connected components of "within ``distance``": a chain of small edits is one
group, even where its two ends are further apart. Each group is shown around a
representative, the hash with the most neighbours in the group (the smallest hash on a
tie, so every device shows the same), and each member with its distance to it. Only groups
of at least two contents are near-duplicates: copies of one content are ``sd duplicates``'s
exact groups. A file seen through several paths (hard links, a bind mount: one device, one
volume, one inode) is one member.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from math import comb
from typing import Collection, Iterable, NamedTuple

from projections.files.listings import C_CID, C_DEV, C_INODE, C_NAME, C_SIZE
from projections.files.query import locate
from projections.files.schema import DEVICE_SHIFT, paths_of

BITS = 64
# The largest distance searched: past it, unrelated pictures of a library match (dHash
# bits are far from independent), and the work grows with the square of the library.
MOST_DISTANCE = 12
DEFAULT_DISTANCE = 6


class Band(NamedTuple):
    shift: int  # its lowest bit
    bits: int
    radius: int


def bands_for(count: int, distance: int) -> list[Band]:
    """The bands that search ``count`` hashes within ``distance`` with the least work, by
    an estimate for uniform hashes: per band, the candidates (pairs whose band bits are
    within its radius) and the look-ups (each band value's neighbours)."""
    best: tuple[float, list[Band]] | None = None
    for m in range(1, min(distance + 1, BITS) + 1):
        base, longer = divmod(BITS, m)
        sizes = [base + 1] * longer + [base] * (m - longer)
        # sum(r_i + 1) must pass distance: the extra radius spread one each.
        extra, more = divmod(distance + 1 - m, m)
        radii = [extra + 1] * more + [extra] * (m - more)
        work = 0.0
        for bits, radius in zip(sizes, radii):
            flips = sum(comb(bits, k) for k in range(1, radius + 1))
            work += count * count * (1 + flips) / (2 << bits) + min(count, 1 << bits) * flips
        if best is None or work < best[0]:
            best = (work, _laid_out(sizes, radii))
    assert best is not None
    return best[1]


def _laid_out(sizes: list[int], radii: list[int]) -> list[Band]:
    out, shift = [], 0
    for bits, radius in zip(sizes, radii):
        out.append(Band(shift, bits, radius))
        shift += bits
    return out


def _flips(bits: int, radius: int) -> list[int]:
    """Every mask of 1 to ``radius`` bits among ``bits``."""
    return [
        sum(1 << b for b in chosen)
        for k in range(1, radius + 1)
        for chosen in itertools.combinations(range(bits), k)
    ]


def near_pairs(hashes: Collection[int], distance: int) -> set[tuple[int, int]]:
    """Every pair ``(a, b)``, ``a < b``, of distinct ``hashes`` at most ``distance`` bits
    apart."""
    found: set[tuple[int, int]] = set()
    if distance <= 0 or len(hashes) < 2:
        return found
    for band in bands_for(len(hashes), distance):
        full = (1 << band.bits) - 1
        table: dict[int, list[int]] = {}
        for h in hashes:
            key = (h >> band.shift) & full
            held = table.get(key)
            if held is None:
                table[key] = [h]
            else:
                held.append(h)
        flips = _flips(band.bits, band.radius)
        get = table.get
        for key, here in table.items():
            if len(here) > 1:
                for a, b in itertools.combinations(here, 2):
                    if (a ^ b).bit_count() <= distance:
                        found.add((a, b) if a < b else (b, a))
            for flip in flips:
                other = key ^ flip
                # Each pair of band values once: from the smaller.
                if other > key:
                    there = get(other)
                    if there is not None:
                        for a in here:
                            for b in there:
                                if (a ^ b).bit_count() <= distance:
                                    found.add((a, b) if a < b else (b, a))
    return found


def components(pairs: Iterable[tuple[int, int]]) -> list[set[int]]:
    """The connected components of a graph given by its edges."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, set[int]] = {}
    for x in parent:
        groups.setdefault(root(x), set()).add(x)
    return list(groups.values())


class SimilarFile(NamedTuple):
    # Its paths, sorted (several: hard links of one file).
    paths: list[bytes]
    cid: bytes
    size: int
    device: bytes
    width: int | None
    height: int | None
    # Bits from the group's representative.
    distance: int
    # When it was taken (``media.taken``), None if its data does not say.
    taken: str | None


class SimilarGroup(NamedTuple):
    files: list[SimilarFile]  # nearest to the representative first, then by path

    @property
    def distance(self) -> int:
        """The furthest member from the representative."""
        return max(f.distance for f in self.files)


def similar(
    db: sqlite3.Connection, distance: int = DEFAULT_DISTANCE, limit: int | None = None
) -> list[SimilarGroup]:
    """Groups of files of at least two contents whose hashes are near (see the module's
    docstring), the largest first."""
    rows = db.execute(
        "SELECT entry, cid, phash, width, height, taken FROM media "
        "WHERE phash IS NOT NULL AND error IS NULL"
    ).fetchall()
    by_hash: dict[int, list[tuple[int, bytes, int | None, int | None, str | None]]] = {}
    for entry, cid, phash, width, height, taken in rows:
        by_hash.setdefault(int.from_bytes(phash, "big"), []).append(
            (entry, cid, width, height, taken)
        )
    pairs = near_pairs(by_hash.keys(), distance)
    degree: dict[int, int] = {}
    for a, b in pairs:
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    # One hash alone is a group when contents share it (a picture re-saved bit for bit).
    alone = [{h} for h, held in by_hash.items() if h not in degree and _contents(held) > 1]
    found = components(pairs) + alone
    entries = [entry for group in found for h in group for entry, *_ in by_hash[h]]
    where = locate(db, entries)
    folder_paths = paths_of(db, {folder for folder, _ in where.values()})
    devices = dict(db.execute("SELECT idx, device FROM devs"))
    groups = []
    for group in found:
        center = min(group, key=lambda h: (-degree.get(h, 0), h))
        files: dict[tuple[int, int, int], SimilarFile] = {}
        for h in group:
            for entry, _, width, height, taken in by_hash[h]:
                at = where.get(entry)
                folder_path = folder_paths.get(at[0]) if at is not None else None
                if at is None or folder_path is None:
                    continue
                record = at[1]
                path = os.path.join(folder_path, record[C_NAME])
                key = (entry >> DEVICE_SHIFT, record[C_DEV], record[C_INODE])
                one = files.get(key)
                if one is not None:
                    one.paths.append(path)
                    continue
                files[key] = SimilarFile(
                    [path],
                    record[C_CID],
                    record[C_SIZE],
                    devices[entry >> DEVICE_SHIFT],
                    width,
                    height,
                    (h ^ center).bit_count(),
                    taken,
                )
        if len({f.cid for f in files.values()}) < 2:
            continue
        for one in files.values():
            one.paths.sort()
        members = sorted(files.values(), key=lambda f: (f.distance, f.paths[0]))
        groups.append(SimilarGroup(members))
    groups.sort(key=lambda g: (-len(g.files), g.files[0].paths[0]))
    return groups[:limit] if limit is not None else groups


def _contents(held: list[tuple[int, bytes, int | None, int | None, str | None]]) -> int:
    return len({cid for _, cid, *_ in held})
