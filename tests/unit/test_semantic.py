"""The semantic room on its own: the model read from its wheel with the network closed, a
request's times and kinds read against a given day, the vectors file kept across an update
and refused when it is not ours."""

from __future__ import annotations

import socket
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from sdactors.indexer.kind_names import KINDS
from sdactors.semantic import embed
from sdactors.semantic.model import DIM, words
from sdactors.semantic.query import KIND_WORDS, parse
from sdactors.semantic.vectors import Row, Vectors, load, save, text_of, updated

NOW = datetime(2025, 10, 15, 12, tzinfo=timezone.utc).timestamp()


def test_the_model_loads_and_embeds_with_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refused)
    monkeypatch.setattr(socket, "create_connection", refused)
    vectors = embed(["seaside vacation", "beach holiday", "office party", ""])
    assert vectors.shape == (4, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1, atol=1e-5)
    assert not vectors[3].any()  # nothing to mean
    beach = vectors[1]
    assert vectors[0] @ beach > vectors[2] @ beach


def test_names_are_read_as_words() -> None:
    assert words("IMG_2041 seaside-vacation.JPG") == "seaside vacation"
    assert words("myTaxReturn2023_final.pdf") == "my tax return final"
    # The name, then its folders nearest first (three at most).
    assert text_of(b"home/a/Taxes/2023/return.pdf") == "return taxes a"
    assert text_of(b"bad\xff name.txt") == "bad name"


@pytest.mark.parametrize(
    ("query", "meaning", "kind", "after", "before"),
    [
        (
            "beach holiday photos from last summer",
            "beach holiday",
            "image",
            (2025, 6, 1),
            (2025, 9, 1),
        ),
        ("invoices from last month", "invoices", None, (2025, 9, 1), (2025, 10, 1)),
        ("meeting notes this week", "meeting notes", None, (2025, 10, 13), (2025, 10, 20)),
        ("videos of july", "", "video", (2025, 7, 1), (2025, 8, 1)),
        ("ski pictures winter 2022", "ski", "image", (2022, 12, 1), (2023, 3, 1)),
        ("report yesterday", "report", None, (2025, 10, 14), (2025, 10, 15)),
        ("may the force", "may force", None, None, None),
        ("my resume", "resume", None, None, None),
    ],
)
def test_a_request_says_when_and_what_kind(
    query: str,
    meaning: str,
    kind: str | None,
    after: tuple[int, int, int] | None,
    before: tuple[int, int, int] | None,
) -> None:
    asked = parse(query, NOW)
    assert asked.meaning == meaning and asked.kind == kind
    assert asked.after == (date(*after) if after else None)
    assert asked.before == (date(*before) if before else None)


def test_last_summer_in_summer_is_the_year_before() -> None:
    july = datetime(2025, 7, 10, tzinfo=timezone.utc).timestamp()
    asked = parse("last summer", july)
    assert (asked.after, asked.before) == (date(2024, 6, 1), date(2024, 9, 1))


def test_kind_words_name_kinds_the_index_knows() -> None:
    assert set(KIND_WORDS.values()) <= set(KINDS)


def test_an_update_keeps_what_did_not_change(tmp_path: Path) -> None:
    rows = [
        Row(1, b"Pictures/IMG_1 seaside vacation.jpg", "image", 10),
        Row(2, b"Documents/tax return.pdf", "document", 20),
    ]
    first = updated(None, rows, checkpoint=5)
    assert (first.embedded, first.kept, first.dropped) == (2, 0, 0)
    path = tmp_path / "vectors.bin"
    save(path, first.vectors)
    loaded = load(path)
    assert loaded is not None and loaded.checkpoint == 5
    assert np.array_equal(loaded.rows(np.arange(2)), first.vectors.rows(np.arange(2)))
    # One renamed, one gone, one new; the kept row's time is the new one.
    later = [
        Row(1, b"Pictures/IMG_1 seaside vacation.jpg", "image", 11),
        Row(3, b"Pictures/birthday cake.jpg", "image", 30),
    ]
    second = updated(loaded, later, checkpoint=9)
    assert (second.embedded, second.kept, second.dropped) == (1, 1, 1)
    assert second.vectors.ids.tolist() == [1, 3] and second.vectors.mtimes.tolist() == [11, 30]
    found, scores = second.vectors.nearest(embed(["beach holiday"])[0], 1)
    assert found.tolist() == [1] and scores[0] > 0


def test_a_file_that_is_not_ours_is_no_vectors(tmp_path: Path) -> None:
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"not vectors at all" * 10)
    assert load(path) is None
    save(path, Vectors.empty())
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size + 3)  # cut or grown: refused, rebuilt
    assert load(path) is None
