"""How long grouping pictures by their perceptual hashes takes (``sd duplicates --similar``):
``--count`` random 64-bit hashes, and ``--planted`` copies of some of them, each 1 to
``--distance`` bits off, which must all be found.

    python tools/bench_similar.py [--count 100000] [--distance 6] [--planted 50] [--repeat 3]

Times the part that grows with the library (``projections.files.similar``: the near pairs
by multi-index hashing, then the groups), the fastest of ``--repeat`` runs in wall time and
in CPU time (on a machine shared with other processes, the closer measure of what an idle
one would take). Prints JSON: the bands chosen, the times, pairs found, planted pairs found;
exits 1 when a planted pair was not found.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from projections.files.similar import BITS, bands_for, components, near_pairs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--distance", type=int, default=6)
    parser.add_argument("--planted", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    hashes = {rng.getrandbits(BITS) for _ in range(args.count)}
    planted = set()
    for value in rng.sample(sorted(hashes), args.planted):
        near = value
        for bit in rng.sample(range(BITS), rng.randint(1, max(args.distance, 1))):
            near ^= 1 << bit
        hashes.add(near)
        planted.add((min(value, near), max(value, near)))

    walls, cpus = [], []
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        pairs = near_pairs(hashes, args.distance)
        groups = components(pairs)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    found = len(planted & pairs)
    print(
        json.dumps(
            {
                "hashes": len(hashes),
                "distance": args.distance,
                "bands": [b._asdict() for b in bands_for(len(hashes), args.distance)],
                "wall_s": round(min(walls), 3),
                "cpu_s": round(min(cpus), 3),
                "pairs": len(pairs),
                "groups": len(groups),
                "planted": len(planted),
                "planted_found": found,
            }
        )
    )
    # A planted pair not found is a wrong answer: the run fails, whatever its time.
    sys.exit(0 if found == len(planted) else 1)


if __name__ == "__main__":
    main()
