"""JSON on the emulators' wire: every non-integer number is read as Decimal and written back exactly.

The emulators keep their own codec instead of borrowing the product's: a fake that shares the client's code would
share its mistakes too.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


class AmountError(ValueError):
    """A value that is not a JSON amount (a float literal is fine; a string, a boolean or NaN is not)."""


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def dumps(data: Any) -> str:
    """Serialise JSON, writing Decimals as plain JSON numbers (`12.50`, never `12.5` through a float)."""
    return "".join(_encode(data))


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        yield format(value, "f")
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(str(key), ensure_ascii=False) + ":"
            yield from _encode(item)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _encode(item)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


def amount(value: object) -> Decimal:
    """An amount as QBO reads it from a request: a JSON number (int or Decimal), finite."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        raise AmountError(f"{value!r} is not a number")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise AmountError(f"{value!r} is not a number") from exc
    if not result.is_finite():
        raise AmountError(f"{value!r} is not a number")
    return result


def round_cents(value: Decimal) -> Decimal:
    """Half-up to the cent, as QBO presents home-currency amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
