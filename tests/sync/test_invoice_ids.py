"""The run's set of queued invoice ids answers exactly as a plain set would, however many ids it folds away."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.invoice_ids import InvoiceIdSet


@given(st.lists(st.integers(min_value=0, max_value=2**62), max_size=300), st.lists(st.integers(0, 2**62), max_size=50))
def test_it_holds_exactly_the_ids_added_whatever_their_order_and_repeats(added: list[int], others: list[int]) -> None:
    ids = InvoiceIdSet(fold_at=4)  # folds every 4 new ids, so most answers come from the sorted arrays
    for value in added:
        ids.add(value)
    assert len(ids) == len(set(added))
    for value in added:
        assert value in ids
        assert str(value) in ids
    for value in others:
        assert (value in ids) == (value in set(added))


def test_ids_given_as_strings_and_as_ints_are_the_same_invoice() -> None:
    ids = InvoiceIdSet(fold_at=2)
    for value in ("17", 17, "18", 3, "3"):
        ids.add(value)
    assert len(ids) == 3
    assert "18" in ids and 18 in ids and 4 not in ids


def test_what_is_not_an_invoice_id_is_not_in_it() -> None:
    ids = InvoiceIdSet()
    ids.add(1)
    assert "one" not in ids
    assert None not in ids


def test_clear_forgets_every_id() -> None:
    ids = InvoiceIdSet(fold_at=3)
    for value in range(10):
        ids.add(value)
    ids.clear()
    assert len(ids) == 0
    assert all(value not in ids for value in range(10))


def test_a_hundred_thousand_ids_take_a_fraction_of_what_a_set_of_strings_takes() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = InvoiceIdSet()
        for value in range(1_000_000, 1_100_000):
            ids.add(value)
        compact = tracemalloc.get_traced_memory()[0] - before
        before = tracemalloc.get_traced_memory()[0]
        plain = {str(value) for value in range(1_000_000, 1_100_000)}
        as_strings = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(ids) == len(plain)
    assert compact * 5 < as_strings, (compact, as_strings)
