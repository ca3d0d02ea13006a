"""QBO validation faults the emulator answers with (reference §13.1 envelope, §13.3 codes), and ref lookups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulators.qbo.state import Company

INACTIVE_DETAIL = (
    "Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
DUPLICATE_NAME_DETAIL = (
    "The name supplied already exists. : Another customer, vendor or employee is already using this name. "
    "Please use a different name."
)
DUPLICATE_ACCOUNT_DETAIL = (
    "The name supplied already exists. : Another account is already using this name. Please use a different name."
)


class EmulatedFault(Exception):
    """A QBO Fault the emulator answers with (HTTP 400 ValidationFault unless told otherwise)."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        element: str = "",
        *,
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        """The `Fault` object of the §13.1 envelope."""
        return {
            "Error": [{"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}],
            "type": self.fault_type,
        }


def required(element: str) -> EmulatedFault:
    """2020: a required parameter is missing."""
    return EmulatedFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def too_long(element: str, maximum: int, supplied: int) -> EmulatedFault:
    """2050: a string is longer than QBO allows."""
    return EmulatedFault(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} supported. "
        f"Supplied length:{supplied}",
        element,
    )


def business(detail: str, element: str = "") -> EmulatedFault:
    """6000: QBO's catch-all business validation error."""
    return EmulatedFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def invalid_enum(value: Any, element: str) -> EmulatedFault:
    """2170: a value outside an enumeration."""
    return EmulatedFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element)


def invalid_string(detail: str, element: str) -> EmulatedFault:
    """2040: a value that cannot be read (an amount that is not a number, a malformed date)."""
    return EmulatedFault("2040", "Invalid String", detail, element)


def invalid_reference(element: str) -> EmulatedFault:
    """2500: a ref points at an unknown or inactive record."""
    return EmulatedFault("2500", "Invalid Reference Id", f"Invalid Reference Id : {INACTIVE_DETAIL}", element)


def not_found() -> EmulatedFault:
    """610: the object does not exist or is inactive."""
    return EmulatedFault("610", "Object Not Found", f"Object Not Found : {INACTIVE_DETAIL}")


def stale_object() -> EmulatedFault:
    """5010: the SyncToken is stale."""
    return EmulatedFault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. "
        "root finished before you did, so your work was not saved.",
    )


def duplicate_name(detail: str = DUPLICATE_NAME_DETAIL) -> EmulatedFault:
    """6240: the name is taken (by a Vendor/Customer/Employee, or by another account)."""
    return EmulatedFault("6240", "Duplicate Name Exists Error", detail)


def unsupported(detail: str) -> EmulatedFault:
    """2010: something the emulator (or QBO) does not support."""
    return EmulatedFault("2010", "Request has invalid or unsupported property", detail)


def active_ref(company: Company, kind: str, ref: Any, element: str) -> dict[str, Any]:
    """The live, active record a ref points at: 2020 when the ref is missing, 2500 when unknown or inactive."""
    if not isinstance(ref, dict) or not ref.get("value"):
        raise required(element)
    record = company.of(kind).get(str(ref["value"]))
    if record is None or record.get("status") == "Deleted" or not record.get("Active", True):
        raise invalid_reference(element)
    return record
