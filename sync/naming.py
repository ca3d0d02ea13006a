"""A connection's short name: what people type after a command to say which QuickBooks company they mean."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

NAME_LENGTH = 24
NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$")


def slug(text: str) -> str:
    """Lower-case letters and digits joined by single dashes, at most NAME_LENGTH long ("" when none remain).

    Accents are dropped first, so "Société Générale" is `societe-generale`, not `soci-t-g-n-rale`."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:NAME_LENGTH].strip("-")


def short_name(company_name: str, taken: Iterable[str]) -> str:
    """A name from the company's ("Acme US, Inc." -> "acme-us-inc"), numbered when another connection has it."""
    used = set(taken)
    base = slug(company_name) or "company"
    name, number = base, 2
    while name in used:
        suffix = f"-{number}"
        name = f"{base[: NAME_LENGTH - len(suffix)].rstrip('-')}{suffix}"
        number += 1
    return name


def is_valid_name(name: str) -> bool:
    """Whether a name an admin typed can be used as is (a slug: one word a command can carry)."""
    return bool(NAME_PATTERN.match(name))
