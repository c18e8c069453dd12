"""A name folds for search the same way whichever path folding takes (ASCII is the fast one)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.files.names import MAX_LENGTH, fold_name, fold_text
from tests.conftest import examples


def folded_the_long_way(name: bytes) -> str:
    return fold_text(name.decode("utf-8", "backslashreplace")).replace("\n", " ")[:MAX_LENGTH]


@settings(max_examples=examples(300))
@given(
    st.one_of(
        st.binary(max_size=64),
        st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.text(alphabet=st.characters(max_codepoint=127), max_size=40).map(str.encode),
    )
)
def test_every_name_folds_as_the_general_rule_says(name: bytes) -> None:
    assert fold_name(name) == folded_the_long_way(name)


def test_the_ascii_path_keeps_the_rules_edges() -> None:
    assert fold_name(b"Holiday\nPHOTO.JPG") == "holiday photo.jpg"
    assert fold_name(b"A" * (MAX_LENGTH + 10)) == "a" * MAX_LENGTH
    assert fold_name("Ǆ.TXT".encode()) == folded_the_long_way("Ǆ.TXT".encode())
