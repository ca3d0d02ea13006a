"""A company's short name: one word a person can type after a command, derived from the QuickBooks company name."""

from __future__ import annotations

from sync.naming import NAME_LENGTH, is_valid_name, short_name


def test_a_name_is_the_company_name_in_lower_case_words_joined_by_dashes() -> None:
    assert short_name("Acme US, Inc.", []) == "acme-us-inc"


def test_accents_are_dropped_rather_than_splitting_words() -> None:
    assert short_name("Société Générale", []) == "societe-generale"


def test_a_taken_name_is_numbered_and_stays_within_the_length() -> None:
    long_name = "Very Long Company Name Holdings International"
    first = short_name(long_name, [])
    second = short_name(long_name, [first])
    assert len(first) <= NAME_LENGTH and len(second) <= NAME_LENGTH
    assert second != first and second.endswith("-2")
    assert is_valid_name(first) and is_valid_name(second)


def test_a_company_name_without_latin_letters_or_digits_gets_a_generic_name() -> None:
    assert short_name("株式会社", []) == "company"
    assert short_name("株式会社", ["company"]) == "company-2"
