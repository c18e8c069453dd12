"""How long the tags agent takes to judge a library (``sdactors.agent.builtin.tags``):
``--files`` files, ``--tagged`` of them tagged, in folders of ``--per-folder`` files side by
side under parents of 20 folders, modified over five years.

    python tools/bench_tags.py [--files 100000] [--tagged 10000] [--words 2] [--repeat 3]

Names are ``--words`` words drawn from the model's own vocabulary (whole words of four
letters or more), one in three a camera's (``IMG_1234``, no meaning): with 2 words most
names are distinct, the worst case for the comparison by meaning, which embeds and compares
each distinct name once. A folder's tagged files carry its trip's tag (20 tags). Times the
part that grows with the library (``suggestions``: nearness by folder, time, name words and
meaning, the votes), the fastest of ``--repeat`` runs in wall and CPU time. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sdactors.agent.builtin.tags import Known, suggestions, words  # noqa: E402
from sdactors.semantic.model import model  # noqa: E402
from sdactors.semantic.model import words as meant  # noqa: E402

YEAR_NS = 365 * 86_400 * 10**9


def vocabulary() -> list[str]:
    """Whole words of the model's tokenizer, four letters or more."""
    found = model().tokenizer.get_vocab()  # type: ignore[attr-defined]
    return sorted(t[1:] for t in found if t.startswith("\u2581") and t[1:].isalpha() and len(t) > 4)


def library(args: argparse.Namespace) -> tuple[list[Known], list[Known]]:
    rng = random.Random(args.seed)
    vocab = vocabulary()
    untagged, tagged = [], []
    chosen = set(rng.sample(range(args.files), args.tagged))
    for i in range(args.files):
        folder_no = i // args.per_folder
        parent = f"/home/p{folder_no // 20}".encode()
        folder = parent + f"/f{folder_no}".encode()
        if rng.random() < 1 / 3:
            name = f"IMG_{rng.randrange(10_000):04d}.jpg"
        else:
            name = " ".join(rng.choice(vocab) for _ in range(args.words)) + ".jpg"
        raw = name.encode()
        tags = frozenset({f"trip{folder_no % 20}"}) if i in chosen else frozenset()
        one = Known(
            folder + b"/" + raw,
            folder,
            parent,
            rng.randrange(5 * YEAR_NS),
            words(raw),
            meant(name),
            tags,
        )
        (tagged if tags else untagged).append(one)
    return untagged, tagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--tagged", type=int, default=10_000)
    parser.add_argument("--per-folder", type=int, default=50)
    parser.add_argument("--words", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    untagged, tagged = library(args)
    best_wall = best_cpu = float("inf")
    found = 0
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        found = sum(1 for _ in suggestions(untagged, tagged))
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(
        json.dumps(
            {
                "files": args.files,
                "tagged": args.tagged,
                "distinct_names": len({k.meaning for k in untagged + tagged}),
                "suggested": found,
                "wall_s": round(best_wall, 3),
                "cpu_s": round(best_cpu, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
