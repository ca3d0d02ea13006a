"""Amounts go to QuickBooks as exact JSON numbers, and nothing else ever does."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from sync import money


def test_decimals_are_written_as_their_exact_digits() -> None:
    text = money.dumps({"Line": [{"Amount": Decimal("1234.50")}, (Decimal("-0.01"), "x")], "Rate": Decimal("1E+2")})
    assert text == '{"Line":[{"Amount":1234.50},[-0.01,"x"]],"Rate":100}'
    assert money.loads(text)["Line"][0]["Amount"] == Decimal("1234.50")


def test_text_that_imitates_the_decimal_marker_stays_text() -> None:
    memo = "\x00decimal:5"
    assert json.loads(money.dumps({"PrivateNote": memo}))["PrivateNote"] == memo


def test_what_is_not_an_amount_is_refused() -> None:
    with pytest.raises(money.MoneyError):
        money.dumps({"Amount": Decimal("NaN")})
    with pytest.raises(TypeError):
        money.dumps({"When": object()})
