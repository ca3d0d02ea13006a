"""Money is Decimal from the wire to the wire: no float ever touches an amount."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


class MoneyError(ValueError):
    """An amount that cannot be read as money."""


def to_decimal(value: object) -> Decimal:
    """Read an amount from JSON-ish input (str, int or Decimal); floats are refused because they already lost cents."""
    if isinstance(value, bool | float):
        raise MoneyError(f"amount {value!r} must be a decimal string or integer, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise MoneyError(f"amount {value!r} is not a number") from exc
    else:
        raise MoneyError(f"amount {value!r} is not a number")
    if not result.is_finite():
        raise MoneyError(f"amount {value!r} is not finite")
    return result


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent, the way invoices and QBO present amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping every non-integer number as Decimal."""
    return json.loads(text, parse_float=Decimal)


_MARK = "\x00decimal:"
_MARKED = re.compile(r'"\\u0000decimal:(-?[0-9]+(?:\.[0-9]+)?)"')


def dumps(data: Any) -> str:
    """Serialise JSON writing every Decimal as an exact JSON number (never through float)."""
    text = json.dumps(_mark_decimals(data), separators=(",", ":"), ensure_ascii=False)
    return _MARKED.sub(r"\1", text)


def _mark_decimals(data: Any) -> Any:
    if isinstance(data, Decimal):
        return _MARK + format(data, "f")
    if isinstance(data, dict):
        return {key: _mark_decimals(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_mark_decimals(value) for value in data]
    return data
