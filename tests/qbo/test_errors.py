"""Both QBO error envelopes (and XML, and garbage) map onto the error hierarchy."""

from __future__ import annotations

import json

import pytest

from sync.qbo.errors import (
    QboAuthError,
    QboCurrencyError,
    QboDuplicateDocNumber,
    QboDuplicateName,
    QboForbidden,
    QboNotFound,
    QboServiceError,
    QboStaleObject,
    QboThrottled,
    QboValidationError,
    error_from_response,
)


def fault_body(code: str, detail: str = "", element: str = "", message: str = "m") -> str:
    error = {"Message": message, "Detail": detail, "code": code, "element": element}
    return json.dumps({"Fault": {"Error": [error], "type": "ValidationFault"}, "time": "2026-01-05T10:00:00.123-08:00"})


@pytest.mark.parametrize(
    ("code", "detail", "cls"),
    [
        ("6240", "", QboDuplicateName),
        ("6140", "", QboDuplicateDocNumber),
        ("5010", "", QboStaleObject),
        ("610", "", QboNotFound),
        ("2020", "", QboValidationError),
        ("2050", "", QboValidationError),
        ("2500", "", QboValidationError),
        ("6000", "Business Validation Error: You can only use one foreign currency per transaction.", QboCurrencyError),
        ("6000", "Business Validation Error: You must set a transaction amount.", QboValidationError),
    ],
)
def test_fault_codes_map_to_classes(code: str, detail: str, cls: type) -> None:
    error = error_from_response(400, fault_body(code, detail, "DocNumber"), "1-abc")
    assert type(error) is cls
    assert error is not None and (error.code, error.detail, error.element, error.status, error.intuit_tid) == (
        code, detail, "DocNumber", 400, "1-abc")  # fmt: skip


def test_gateway_envelope_401_is_auth_error_without_the_token() -> None:
    body = {
        "fault": {
            "error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                       "detail": "Token expired: AB01730024136mqEofYN9f...", "code": "3200", "element": None}],
            "type": "AUTHENTICATION",
        },
        "time": 1533811101733,
    }  # fmt: skip
    error = error_from_response(401, json.dumps(body), None)
    assert isinstance(error, QboAuthError) and error.code == "3200"
    assert "AB0173" not in str(error) and "AB0173" not in repr(error)


@pytest.mark.parametrize(("status", "code", "cls"), [(403, "3100", QboForbidden), (429, "3001", QboThrottled)])
def test_gateway_envelope_403_and_429(status: int, code: str, cls: type) -> None:
    body = {"fault": {"error": [{"message": f"message=X; errorCode=00{code}; statusCode={status}", "detail": "d",
                                 "code": code, "element": None}], "type": "SERVICE"}}  # fmt: skip
    error = error_from_response(status, json.dumps(body), None, retry_after="5")
    assert type(error) is cls and error is not None and error.retry_after == "5"


def test_xml_throttle_fault_is_parsed() -> None:
    xml = (
        '<IntuitResponse time="2017-07-30T22:45:22.933-07:00" xmlns="http://schema.intuit.com/finance/v3">'
        '<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; '
        "statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail></Error></Fault>"
        "</IntuitResponse>"
    )
    error = error_from_response(429, xml, None)
    assert isinstance(error, QboThrottled) and error.is_transient and error.code == "3001"


def test_every_error_entry_is_kept() -> None:
    body = {"Fault": {"Error": [{"Message": "a", "code": "2020", "Detail": "", "element": "Line"},
                                {"Message": "b", "code": "2050", "Detail": "", "element": "DocNumber"}]}}  # fmt: skip
    error = error_from_response(400, json.dumps(body), None)
    assert error is not None and [entry.code for entry in error.errors] == ["2020", "2050"]


def test_fault_inside_a_200_is_an_error() -> None:
    error = error_from_response(200, fault_body("10000"), None)
    assert isinstance(error, QboServiceError) and error.is_transient


@pytest.mark.parametrize(("status", "text"), [(502, "<html>Bad gateway"), (503, ""), (500, "{not json"), (400, "[1]")])
def test_unparseable_bodies_never_crash(status: int, text: str) -> None:
    error = error_from_response(status, text, None)
    assert error is not None and error.status == status
    assert error.is_transient == (status >= 500)


def test_a_success_whose_body_is_not_json_is_an_error_to_retry() -> None:
    error = error_from_response(200, "<html>Our proxy says hello</html>", None)
    assert isinstance(error, QboServiceError) and error.is_transient


def test_plain_success_is_not_an_error() -> None:
    assert error_from_response(200, '{"Vendor": {"Id": "1"}}', None) is None
