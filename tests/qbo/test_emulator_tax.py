"""Emulator fidelity for tax codes and non-US companies (reference §5 GlobalTaxCalculation, §18.3; item 29)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from sync import money
from tests.qbo.conftest import REALM, Api, bill_body, fault


@pytest.fixture
def uk(api: Api) -> Api:
    """The test realm re-seeded as a UK company (Country GBR, home GBP, VAT codes)."""
    api.state.seed_company(REALM, country="GBR", company_name="Northwind Design Ltd")
    return api


async def tax_code_id(api: Api, name: str) -> str:
    [row] = [
        row for row in await api.rows("select * from TaxCode where Active IN (true, false)") if row["Name"] == name
    ]
    return str(row["Id"])


def vat_bill(api: Api, vendor_id: str, lines: list[tuple[str, str | None]], **fields: Any) -> dict[str, Any]:
    """A bill whose lines are (amount, tax code id or None)."""
    body = bill_body(vendor_id, api.account_id("Contractors"), *(amount for amount, _ in lines), **fields)
    for line, (_, code) in zip(body["Line"], lines, strict=True):
        if code is not None:
            line["AccountBasedExpenseLineDetail"]["TaxCodeRef"] = {"value": code}
    return body


async def test_a_uk_company_reports_its_country_and_lists_its_vat_codes(uk: Api) -> None:
    info = (await uk.get(f"companyinfo/{REALM}")).json()["CompanyInfo"]
    prefs = (await uk.get("preferences")).json()["Preferences"]
    active = await uk.rows("select * from TaxCode")
    everything = await uk.rows("select * from TaxCode where Active IN (true, false)")

    assert (info["Country"], prefs["CurrencyPrefs"]["HomeCurrency"]["value"]) == ("GBR", "GBP")
    assert {row["Name"] for row in active} == {"20.0% S", "5.0% R", "Zero-rated", "Exempt", "No VAT"}
    assert "17.5% S" in {row["Name"] for row in everything} - {row["Name"] for row in active}
    assert all(len(row["Id"]) >= 16 and row["Id"].isdigit() for row in everything)  # long opaque Ids
    standard = next(row for row in active if row["Name"] == "20.0% S")
    [rate_ref] = [detail["TaxRateRef"]["value"] for detail in standard["PurchaseTaxRateList"]["TaxRateDetail"]]
    [rate] = await uk.rows(f"select * from TaxRate where Id = '{rate_ref}'")
    assert rate["RateValue"] == 20


async def test_a_line_without_a_tax_code_is_refused_with_a_vat_rate_message(uk: Api) -> None:
    vendor = await uk.create_vendor("VAT Vendor")
    zero = await tax_code_id(uk, "Zero-rated")

    error = fault(
        await uk.post(
            "bill", vat_bill(uk, vendor["Id"], [("10.00", zero), ("5.00", None)], GlobalTaxCalculation="TaxExcluded")
        )
    )

    assert (error["code"], error["element"]) == ("6000", "TaxCodeRef")
    assert "VAT rate" in error["Detail"]


async def test_a_bill_without_global_tax_calculation_is_refused(uk: Api) -> None:
    vendor = await uk.create_vendor("No Calculation Vendor")
    zero = await tax_code_id(uk, "Zero-rated")

    error = fault(await uk.post("bill", vat_bill(uk, vendor["Id"], [("10.00", zero)])))

    assert (error["code"], error["element"]) == ("6000", "GlobalTaxCalculation") and "VAT rate" in error["Detail"]


async def test_zero_rated_lines_tax_excluded_total_the_sum_of_the_lines(uk: Api) -> None:
    vendor = await uk.create_vendor("Zero Vendor")
    zero = await tax_code_id(uk, "Zero-rated")
    no_vat = await tax_code_id(uk, "No VAT")

    bill = money.loads(
        (
            await uk.post(
                "bill",
                vat_bill(uk, vendor["Id"], [("1000.00", zero), ("25.50", no_vat)], GlobalTaxCalculation="TaxExcluded"),
            )
        ).text
    )["Bill"]

    assert bill["TotalAmt"] == bill["Balance"] == Decimal("1025.50")
    assert bill["CurrencyRef"]["value"] == "GBP"
    assert bill["Line"][0]["AccountBasedExpenseLineDetail"]["TaxCodeRef"] == {"value": zero, "name": "Zero-rated"}
    assert bill["TxnTaxDetail"]["TotalTax"] == 0


@pytest.mark.parametrize(
    ("calculation", "total", "tax"),
    [("TaxExcluded", "120.00", "20.00"), ("TaxInclusive", "100.00", "16.67"), ("NotApplicable", "100.00", "0")],
)
async def test_standard_rated_vat_follows_global_tax_calculation(
    uk: Api, calculation: str, total: str, tax: str
) -> None:
    vendor = await uk.create_vendor("Standard Vendor")
    standard = await tax_code_id(uk, "20.0% S")

    bill = await uk.created(
        "bill", vat_bill(uk, vendor["Id"], [("100.00", standard)], GlobalTaxCalculation=calculation)
    )

    assert (bill["TotalAmt"], bill["TxnTaxDetail"]["TotalTax"]) == (Decimal(total), Decimal(tax))


@pytest.mark.parametrize(("code_name", "code"), [("17.5% S", "2500"), (None, "2500")])
async def test_an_inactive_or_unknown_tax_code_is_refused(uk: Api, code_name: str | None, code: str) -> None:
    vendor = await uk.create_vendor("Old Rate Vendor")
    tax_code = await tax_code_id(uk, code_name) if code_name else "999999"

    error = fault(
        await uk.post("bill", vat_bill(uk, vendor["Id"], [("1", tax_code)], GlobalTaxCalculation="TaxExcluded"))
    )

    assert (error["code"], error["element"]) == (code, "TaxCodeRef")


async def test_an_unknown_global_tax_calculation_is_2170(uk: Api) -> None:
    vendor = await uk.create_vendor("Enum Vendor")
    zero = await tax_code_id(uk, "Zero-rated")

    error = fault(await uk.post("bill", vat_bill(uk, vendor["Id"], [("1", zero)], GlobalTaxCalculation="Sometimes")))

    assert (error["code"], error["element"]) == ("2170", "GlobalTaxCalculation")


async def test_a_uk_vendor_credit_needs_tax_codes_too(uk: Api) -> None:
    vendor = await uk.create_vendor("UK Credit Vendor")
    zero = await tax_code_id(uk, "Zero-rated")

    refused = fault(
        await uk.post("vendorcredit", vat_bill(uk, vendor["Id"], [("5", None)], GlobalTaxCalculation="TaxExcluded"))
    )
    credit = await uk.created(
        "vendorcredit", vat_bill(uk, vendor["Id"], [("5", zero)], GlobalTaxCalculation="TaxExcluded")
    )

    assert refused["code"] == "6000" and credit["TotalAmt"] == Decimal("5")


async def test_a_us_company_refuses_global_tax_calculation_and_knows_only_tax_and_non(api: Api) -> None:
    vendor = await api.create_vendor("US Tax Vendor")

    with_calculation = fault(
        await api.post("bill", vat_bill(api, vendor["Id"], [("1", None)], GlobalTaxCalculation="TaxExcluded"))
    )
    unknown = fault(await api.post("bill", vat_bill(api, vendor["Id"], [("1", "20.0% S")])))
    taxable = await api.created("bill", vat_bill(api, vendor["Id"], [("1", "TAX")]))

    assert (with_calculation["code"], with_calculation["element"]) == ("6000", "GlobalTaxCalculation")
    assert (unknown["code"], unknown["element"]) == ("2500", "TaxCodeRef")
    assert taxable["Line"][0]["AccountBasedExpenseLineDetail"]["TaxCodeRef"] == {"value": "TAX"}
    assert await api.rows("select * from TaxCode") == []


async def test_the_control_route_seeds_a_vat_company(api: Api) -> None:
    response = await api.http.post(
        f"{api.emulator.url}/_emulator/seed", json={"realm_id": "4620816365000001", "country": "GBR"}
    )

    assert response.status_code == 200
    company = api.state.companies["4620816365000001"]
    assert (company.country, company.home_currency) == ("GBR", "GBP")
    assert {code["Name"] for code in api.state.entities("TaxCode", "4620816365000001")} >= {"20.0% S", "Zero-rated"}


async def test_exchange_rate_switches_are_set_over_http(api: Api, http: httpx.AsyncClient) -> None:
    changed = await http.post(
        f"{api.emulator.url}/_emulator/switches",
        json={"exchange_rate_decimals": 6, "exchange_rate_rounding": "half_up"},
    )

    assert changed.status_code == 200
    assert (api.state.switches.exchange_rate_decimals, api.state.switches.exchange_rate_rounding) == (6, "half_up")
