"""How long the tags agent takes to judge a library (``sdactors.agent.builtin.tags``):
``--files`` files, ``--tagged`` of them tagged, in folders of ``--per-folder`` files side by
side under parents of 20 folders, modified over five years.

    python tools/bench_tags.py [--files 100000] [--tagged 10000] [--words 2] [--repeat 3]
                               [--unrelated 1000] [--one-tag]

Names are ``--words`` words drawn from the model's own vocabulary (whole words of four
letters or more), one in three a camera's (``IMG_1234``, no meaning): with 2 words most
names are distinct, the worst case for the comparison by meaning, which embeds and compares
each distinct name once. A folder's tagged files carry its trip's tag (20 tags). Times the
part that grows with the library (``suggestions``: nearness by folder, time, name words and
meaning, the votes), the fastest of ``--repeat`` runs in wall and CPU time. Prints JSON.

How far meaning can be trusted: ``--unrelated`` more untagged files with such names, each
alone in a folder of its own far from the rest (only meaning can bring them a tag), and a
planted set (``PLANTED``): tagged files of a few subjects in folders of their own, and
untagged ones named in other words of the same subject elsewhere. ``unrelated_tagged``: the
share of the unrelated files that got a tag (wrongly); ``planted_recall``: the share of the
planted untagged ones that got their subject's tag. ``--one-tag``: every generated tagged
file carries one tag (``all``), the planted ones too, the worst case for meaning.
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
# Subject: (names of its tagged files, names of untagged files of the same subject that
# share no word with them).
PLANTED = {
    "Holiday": (
        ("beach holiday", "holiday at the beach", "beach trip", "summer holiday", "beach day"),
        ("seaside vacation", "vacation by the sea", "seaside trip"),
    ),
    "Wedding": (
        ("wedding photos", "wedding ceremony", "wedding cake", "bride and groom", "wedding"),
        ("marriage pictures", "marriage ceremony", "marriage"),
    ),
    "Taxes": (
        ("tax return", "income tax", "tax receipt", "tax form", "taxes 2022"),
        ("irs filing", "revenue service letter", "fiscal declaration"),
    ),
    "Invoices": (
        ("acme invoice", "invoice march", "supplier invoice", "invoice paid", "invoices"),
        ("billing statement", "bill payment", "billing"),
    ),
    "Birthday": (
        ("birthday party", "birthday cake", "kids birthday", "birthday gifts", "birthday"),
        ("party balloons", "anniversary celebration", "celebration cake"),
    ),
}


def vocabulary() -> list[str]:
    """Whole words of the model's tokenizer, four letters or more."""
    found = model().tokenizer.get_vocab()  # type: ignore[attr-defined]
    return sorted(t[1:] for t in found if t.startswith("\u2581") and t[1:].isalpha() and len(t) > 4)


def known(folder: bytes, parent: bytes, name: str, when: int, tags: frozenset[str]) -> Known:
    raw = name.encode()
    return Known(folder + b"/" + raw, folder, parent, when, words(raw), meant(name), tags)


def library(
    args: argparse.Namespace,
) -> tuple[list[Known], list[Known], list[Known], dict[bytes, str]]:
    """The untagged files, the tagged ones, the unrelated untagged ones, and the planted
    untagged ones' paths with their subject's tag."""
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
        trip = "all" if args.one_tag else f"trip{folder_no % 20}"
        tags = frozenset({trip}) if i in chosen else frozenset()
        one = known(folder, parent, name, rng.randrange(5 * YEAR_NS), tags)
        (tagged if tags else untagged).append(one)
    unrelated = []
    for i in range(args.unrelated):
        name = " ".join(rng.choice(vocab) for _ in range(args.words)) + ".jpg"
        parent = f"/elsewhere/u{i}".encode()
        unrelated.append(known(parent + b"/x", parent, name, 6 * YEAR_NS, frozenset()))
    planted: dict[bytes, str] = {}
    for subject, (theirs, mine) in PLANTED.items():
        extra = {"all"} if args.one_tag else set()
        folder = f"/planted/{subject}".encode()
        for name in theirs:
            tagged.append(
                known(folder, b"/planted", name + ".jpg", 0, frozenset({subject} | extra))
            )
        for name in mine:
            parent = f"/phone/{subject}/{name}".encode()
            one = known(parent + b"/x", parent, name + ".jpg", 7 * YEAR_NS, frozenset())
            untagged.append(one)
            planted[one.path] = subject
    return untagged + unrelated, tagged, unrelated, planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--tagged", type=int, default=10_000)
    parser.add_argument("--per-folder", type=int, default=50)
    parser.add_argument("--words", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--unrelated", type=int, default=0)
    parser.add_argument("--one-tag", action="store_true")
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    args = parser.parse_args()
    untagged, tagged, unrelated, planted = library(args)
    best_wall = best_cpu = float("inf")
    found: list[tuple[bytes, str]] = []
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        found = [(one.path, tag) for one, tag, _ in suggestions(untagged, tagged)]
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(
        json.dumps(
            {
                "files": args.files,
                "tagged": args.tagged,
                "distinct_names": len({k.meaning for k in untagged + tagged}),
                "suggested": len(found),
                "unrelated_tagged": round(
                    len({path for path, _ in found} & {k.path for k in unrelated})
                    / max(1, len(unrelated)),
                    3,
                ),
                "planted_recall": round(
                    len({(p, t) for p, t in found if planted.get(p) == t}) / len(planted), 3
                ),
                "wall_s": round(best_wall, 3),
                "cpu_s": round(best_cpu, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
