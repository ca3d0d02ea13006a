"""Money is Decimal from the wire to the wire: no float ever touches an amount."""

from __future__ import annotations

import json
import re
import secrets
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


# A marker text from Ontop or people cannot know (it is drawn per process), so no string of theirs becomes a number.
_MARK = f"\x00decimal-{secrets.token_hex(8)}:"
_MARKED = re.compile(r'"\\u0000' + re.escape(_MARK[1:]) + r'(-?[0-9]+(?:\.[0-9]+)?)"')


def dumps(data: Any) -> str:
    """Serialise JSON writing every Decimal as an exact JSON number (never through float)."""
    return _MARKED.sub(r"\1", _ENCODER.encode(data))


def _mark_decimal(value: object) -> str:
    """The encoder's fallback: a Decimal becomes a marked string that `dumps` turns back into its exact digits."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"amount {value} is not finite")
        return _MARK + format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# The C encoder calls the fallback only for Decimals, instead of a copy of the whole body made in Python first.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_mark_decimal)
