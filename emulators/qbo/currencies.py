"""Currency facts the QBO emulator needs: ISO 4217 minor units, names, and rounding of home-currency amounts."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

# ISO 4217 minor units that are not 2 (the usual case).
_ZERO_DECIMALS = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
                  "XAF", "XOF", "XPF"}  # fmt: skip
_THREE_DECIMALS = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_FOUR_DECIMALS = {"CLF", "UYW"}

NAMES = {"USD": "United States Dollar", "EUR": "Euro", "GBP": "British Pound Sterling", "CAD": "Canadian Dollar",
         "AUD": "Australian Dollar", "BRL": "Brazilian Real", "ARS": "Argentine Peso", "MXN": "Mexican Peso",
         "COP": "Colombian Peso", "INR": "Indian Rupee", "CLP": "Chilean Peso", "PEN": "Peruvian Sol",
         "JPY": "Japanese Yen", "KRW": "South Korean Won", "BHD": "Bahraini Dinar", "KWD": "Kuwaiti Dinar"}  # fmt: skip


def minor_places(code: str) -> int:
    """How many decimals an amount in this currency may have (ISO 4217 minor unit)."""
    code = code.upper()
    if code in _ZERO_DECIMALS:
        return 0
    if code in _THREE_DECIMALS:
        return 3
    if code in _FOUR_DECIMALS:
        return 4
    return 2


def quantum(code: str) -> Decimal:
    """The smallest unit of a currency as a Decimal exponent (0.01 for USD, 1 for CLP, 0.001 for BHD)."""
    return Decimal(1).scaleb(-minor_places(code))


def fits_minor_unit(value: Decimal, code: str) -> bool:
    """Whether an amount is a whole number of the currency's minor units (`12.50` is fine for USD, `1.005` is not)."""
    # Compares values, not spellings: 930000.00 CLP is a whole number of pesos.
    return value == value.quantize(quantum(code), rounding=ROUND_DOWN)


def round_home(value: Decimal, code: str) -> Decimal:
    """Half-up to the home currency's minor unit, as QBO presents home-currency amounts."""
    return value.quantize(quantum(code), rounding=ROUND_HALF_UP)


def name_of(code: str) -> str:
    """The name QBO shows in a CurrencyRef."""
    return NAMES.get(code, code)
