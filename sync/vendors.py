"""Ontop worker contracts ↔ QBO vendors: match by stored link, email, then name; create what is missing.

Existing QBO vendors are never modified. An inactive vendor that matches is reported (reactivating it is a
person's decision), and a name held by a customer or an employee gets a predictable suffix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sync import messages
from sync.api import VendorMatch
from sync.ontop.models import Worker, WorkerStatus
from sync.qbo.models import Address, NewVendor, Vendor, clean_name

OTHER_NAME_KINDS = ("Customer", "Employee")


def name_key(name: str) -> str:
    """How QBO compares DisplayNames: trimmed, single-spaced, case-insensitive."""
    return " ".join(clean_name(name).split()).casefold()


@dataclass
class VendorDirectory:
    """Every QBO vendor (inactive included) and the names customers and employees hold, read once per run."""

    vendors: list[Vendor] = field(default_factory=list)
    other_names: dict[str, str] = field(default_factory=dict)  # name key -> "Customer" | "Employee"

    def __post_init__(self) -> None:
        self._by_email: dict[str, list[Vendor]] = {}
        self._by_name: dict[str, Vendor] = {}
        self._by_id: dict[str, Vendor] = {}
        for vendor in self.vendors:
            self._index(vendor)

    def _index(self, vendor: Vendor) -> None:
        self._by_id[vendor.id] = vendor
        self._by_name[name_key(vendor.display_name)] = vendor
        if vendor.email:
            self._by_email.setdefault(vendor.email.strip().casefold(), []).append(vendor)

    def add(self, vendor: Vendor) -> None:
        self.vendors.append(vendor)
        self._index(vendor)

    def by_id(self, vendor_id: str) -> Vendor | None:
        return self._by_id.get(vendor_id)

    def by_email(self, email: str | None) -> list[Vendor]:
        return list(self._by_email.get(email.strip().casefold(), [])) if email else []

    def by_name(self, name: str) -> Vendor | None:
        return self._by_name.get(name_key(name))

    def name_holder(self, name: str) -> str | None:
        """Which kind of QBO record already holds this DisplayName, if any."""
        key = name_key(name)
        if key in self._by_name:
            return "Vendor"
        return self.other_names.get(key)


@dataclass(frozen=True)
class VendorDecision:
    agreement_id: str
    match: VendorMatch
    vendor: Vendor | None  # the vendor to link (LINKED, MATCH_EMAIL, MATCH_NAME)
    display_name: str  # the worker's name as the bot would create it
    note: str | None = None


def worker_name(worker: Worker) -> str | None:
    name = worker.display_name
    return clean_name(name) if name else None


def creation_name(base: str, agreement_id: str, directory: VendorDirectory) -> str:
    """The DisplayName to create: the worker's name, or a predictable variant when a customer/employee holds it."""
    for candidate in (base, f"{base} (contractor)", f"{base} (contractor {agreement_id})"):
        if directory.name_holder(candidate) is None:
            return candidate
    return f"{base} (Ontop {agreement_id})"


def decide(worker: Worker, linked_vendor_id: str | None, directory: VendorDirectory) -> VendorDecision:
    """How this contract maps to a QBO vendor right now."""
    agreement_id = str(worker.agreement_id)
    name = worker_name(worker)
    if linked_vendor_id is not None:
        linked = directory.by_id(linked_vendor_id)
        return VendorDecision(
            agreement_id, VendorMatch.LINKED, linked, linked.display_name if linked else (name or agreement_id)
        )

    email_matches = directory.by_email(worker.email)
    active = [vendor for vendor in email_matches if vendor.active]
    if len(active) == 1:
        return VendorDecision(agreement_id, VendorMatch.MATCH_EMAIL, active[0], name or active[0].display_name)
    if len(active) > 1:
        names = ", ".join(sorted(vendor.display_name for vendor in active))
        return VendorDecision(
            agreement_id,
            VendorMatch.CONFLICT,
            None,
            name or "",
            messages.several_suppliers_with_email(names),
        )
    if email_matches:
        inactive = email_matches[0]
        return VendorDecision(
            agreement_id,
            VendorMatch.CONFLICT,
            None,
            name or inactive.display_name,
            messages.inactive_supplier_with_email(inactive.display_name),
        )

    if name is None:
        reason = "invited, no name yet" if worker.status == WorkerStatus.INVITATION_SENT else "no name in Ontop yet"
        return VendorDecision(agreement_id, VendorMatch.NOT_READY, None, worker.email or agreement_id, reason)

    same_name = directory.by_name(name)
    if same_name is not None and _different_people(same_name, worker):
        # Two people can share a name; a supplier with another email is not this worker.
        planned = creation_name(name, agreement_id, directory)
        return VendorDecision(agreement_id, VendorMatch.WILL_CREATE, None, planned, messages.namesake_supplier(name))
    if same_name is not None:
        if same_name.active:
            return VendorDecision(agreement_id, VendorMatch.MATCH_NAME, same_name, name)
        return VendorDecision(
            agreement_id,
            VendorMatch.CONFLICT,
            None,
            name,
            messages.inactive_supplier_with_name(same_name.display_name),
        )

    planned = creation_name(name, agreement_id, directory)
    note = None
    if planned != name:
        note = messages.name_held_by(directory.name_holder(name), name)
    if worker.is_ended:
        note = "contract ended" + (f"; {note}" if note else "")
    return VendorDecision(agreement_id, VendorMatch.WILL_CREATE, None, planned, note)


def _different_people(vendor: Vendor, worker: Worker) -> bool:
    return bool(vendor.email and worker.email and vendor.email.strip().casefold() != worker.email.strip().casefold())


def planned_vendor(decision: VendorDecision, worker: Worker) -> Vendor:
    """A stand-in for a vendor the bot would create, so a preview reserves its name and email for later rows."""
    return Vendor(
        id=f"planned-{decision.agreement_id}",
        display_name=decision.display_name,
        company_name=worker.legal_name,
        email=worker.email,
        active=True,
        currency=None,
        sync_token="0",
    )


def new_vendor_for(worker: Worker, display_name: str, currency: str | None) -> NewVendor:
    is_business = bool(worker.legal_name)
    return NewVendor(
        display_name=display_name,
        given_name=None if is_business else worker.first_name,
        family_name=None if is_business else worker.last_name,
        company_name=worker.legal_name,
        email=worker.email,
        address=Address(country=worker.country) if worker.country else None,
        currency=currency,
        notes=f"Ontop contractor, agreement {worker.agreement_id}. Created by qbo-bot.",
        acct_num=f"ONTOP-{worker.agreement_id}",
    )


def vendor_currency_for(worker: Worker, home_currency: str, multicurrency_enabled: bool) -> str | None:
    """A new vendor is in the worker's contract currency when the company books foreign currencies; else home."""
    if multicurrency_enabled and worker.currency and worker.currency != home_currency:
        return worker.currency
    return None


def unique_workers(workers: Iterable[Worker]) -> list[Worker]:
    seen: dict[int, Worker] = {}
    for worker in workers:
        seen.setdefault(worker.agreement_id, worker)
    return list(seen.values())
