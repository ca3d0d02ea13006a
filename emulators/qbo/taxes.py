"""Tax codes of non-US companies (reference §18.3): seeded TaxCode and TaxRate entities, and the VAT on a purchase."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulators.qbo.state import Company, QboEmulatorState

US_PSEUDO_CODES = ("TAX", "NON")  # the only tax codes a US company knows; they are not TaxCode entities
GLOBAL_TAX_CALCULATIONS = ("TaxExcluded", "TaxInclusive", "NotApplicable")


@dataclass(frozen=True)
class _Code:
    name: str
    description: str
    rate: Decimal | None  # percent on purchases; None for out-of-scope codes that carry no rate at all
    taxable: bool
    active: bool = True
    special: str = "NONE"


_UK = [
    _Code("20.0% S", "Standard rated purchases and sales", Decimal("20"), True),
    _Code("5.0% R", "Reduced rated purchases and sales", Decimal("5"), True),
    _Code("Zero-rated", "Zero-rated purchases and sales", Decimal("0"), True, special="ZERO_RATE"),
    _Code("Exempt", "Exempt purchases and sales", Decimal("0"), False, special="EXEMPT"),
    _Code("No VAT", "Outside the scope of VAT", None, False),
    _Code("17.5% S", "Old standard rate", Decimal("17.5"), True, active=False),
]
_CANADA = [
    _Code("GST", "Goods and services tax", Decimal("5"), True),
    _Code("HST ON", "Harmonized sales tax, Ontario", Decimal("13"), True),
    _Code("Zero-rated", "Zero-rated supplies", Decimal("0"), True, special="ZERO_RATE"),
    _Code("Exempt", "Exempt supplies", Decimal("0"), False, special="EXEMPT"),
    _Code("Out of Scope", "Outside the scope of sales tax", None, False),
]
_AUSTRALIA = [
    _Code("GST", "GST on purchases", Decimal("10"), True),
    _Code("GST free", "GST-free purchases", Decimal("0"), True, special="ZERO_RATE"),
    _Code("Input taxed", "Input-taxed purchases", Decimal("0"), False, special="EXEMPT"),
    _Code("Out of Scope", "Outside the scope of GST", None, False),
]
CODES_BY_COUNTRY = {"GBR": _UK, "CAN": _CANADA, "AUS": _AUSTRALIA}


def seed_tax_codes(state: QboEmulatorState, company: Company) -> None:
    """Create the country's TaxRate and TaxCode entities (UK-style VAT codes for any country not listed)."""
    stamp = state.meta(company)
    agency = {"value": "1", "name": "HM Revenue & Customs" if company.country == "GBR" else "Tax agency"}
    for code in CODES_BY_COUNTRY.get(company.country, _UK):
        rate_lists: dict[str, Any] = {"PurchaseTaxRateList": {"TaxRateDetail": []},
                                      "SalesTaxRateList": {"TaxRateDetail": []}}  # fmt: skip
        if code.rate is not None:
            for side, list_name in (("Purchases", "PurchaseTaxRateList"), ("Sales", "SalesTaxRateList")):
                rate = state.add_entity(
                    company,
                    "TaxRate",
                    {
                        "Name": f"{code.name} ({side})",
                        "Description": code.description,
                        "Active": code.active,
                        "RateValue": code.rate,
                        "AgencyRef": agency,
                        "SpecialTaxType": code.special,
                        "DisplayType": "ReadOnly",
                        "MetaData": stamp,
                    },
                    entity_id=company.opaque_id(),
                )
                rate_ref = {"value": rate["Id"], "name": rate["Name"]}
                detail = {"TaxRateRef": rate_ref, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
                rate_lists[list_name]["TaxRateDetail"].append(detail)
        state.add_entity(
            company,
            "TaxCode",
            {
                "Name": code.name,
                "Description": code.description,
                "Active": code.active,
                "Hidden": False,
                "Taxable": code.taxable,
                "TaxGroup": False,
                **rate_lists,
                "MetaData": stamp,
            },
            entity_id=company.opaque_id(),
        )


def purchase_rate(company: Company, tax_code: dict[str, Any]) -> Decimal:
    """The purchase tax percent of a TaxCode: the sum of its purchase rates (0 when it has none)."""
    details = (tax_code.get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
    total = Decimal("0")
    for detail in details:
        rate = company.of("TaxRate").get(str((detail.get("TaxRateRef") or {}).get("value")))
        if rate is not None:
            total += Decimal(rate.get("RateValue", 0))
    return total


def purchase_rate_ref(tax_code: dict[str, Any]) -> dict[str, Any] | None:
    """The first purchase TaxRateRef of a TaxCode, for TxnTaxDetail."""
    details = (tax_code.get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
    return dict(details[0]["TaxRateRef"]) if details else None
