"""A deterministic, realistic Ontop company for the emulator, tests, benchmarks and the demo.

Everything is computed from (seed, index): workers are few and built once; invoices are computed on demand by
index, so 100,000 invoices are never held in memory. Invoice `i` is created at `created_at(i)`, which grows with `i`;
some invoices change later (PENDING -> PAID, -> CANCELLED, DRAFT -> PENDING) exactly `change_lag` indices later, which
keeps "sorted by update time" cheap to stream (see `rows_changed_between`).

The rows are Ontop wire JSON (Part A worker rows, Part B agreements and invoices) with Decimal amounts.
"""

from __future__ import annotations

import bisect
import calendar
import heapq
import itertools
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from emulators.ontop.wire import CONCEPT_LABELS

_MASK64 = (1 << 64) - 1
LATE_CHANGE_OFFSET = timedelta(milliseconds=137)
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
FIRST_AGREEMENT_ID = 16
FIRST_INVOICE_ID = 5001

FIRST_NAMES = (
    "José", "María", "João", "Inês", "Sebastián", "Zoë", "François", "Björn", "Chloé", "Lucía", "Ángel",
    "Camila", "Gonçalo", "Renée", "Martín", "Valentina", "Joaquín", "Noémie", "Mateo", "Sofía", "D'Andre", "Ana",
)  # fmt: skip
LAST_NAMES = (
    "Pérez", "Muñoz", "Gonçalves", "O'Connor", "D'Angelo", "Müller", "Sørensen", "García", "N'Diaye", "Souza",
    "dell'Acqua", "Hernández", "López", "Rodríguez", "Fernández", "Castaño", "Ibáñez", "O'Brien", "Martínez", "Silva",
)  # fmt: skip
BUSINESS_NAMES = (
    "Estúdio Criativo Ltda.", "Soluciones Técnicas S.A.S.", "L'Atelier Numérique SARL", "Desarrollos Peña S.R.L.",
    "Código Ágil SpA", "O'Neill & Sons Consulting LLC",
)  # fmt: skip
JOB_TITLES = ("Software Engineer", "Data Analyst", "Product Designer", "Account Executive", "QA Engineer", "Recruiter")


@dataclass(frozen=True)
class Place:
    country: str
    country_iso: str
    currency: str


PLACES = (
    Place("United States", "US", "USD"),
    Place("Argentina", "AR", "USD"),  # many LATAM contracts are paid in USD
    Place("Brazil", "BR", "BRL"),
    Place("Mexico", "MX", "MXN"),
    Place("Colombia", "CO", "COP"),
    Place("Argentina", "AR", "ARS"),
    Place("Spain", "ES", "EUR"),
    Place("Portugal", "PT", "EUR"),
    Place("Chile", "CL", "CLP"),
    Place("Peru", "PE", "PEN"),
    Place("United Kingdom", "GB", "GBP"),
)
PLACE_WEIGHTS = (22, 12, 14, 10, 10, 8, 8, 4, 5, 4, 3)

# Units of currency per 1 USD at the start; drifted per month (ARS inflates).
USD_RATES = {
    "USD": Decimal("1"), "EUR": Decimal("0.92"), "BRL": Decimal("5.10"), "MXN": Decimal("17.20"),
    "COP": Decimal("3950"), "ARS": Decimal("870"), "CLP": Decimal("930"), "PEN": Decimal("3.75"),
    "GBP": Decimal("0.79"),
}  # fmt: skip
ZERO_DECIMAL_CURRENCIES = frozenset({"CLP"})

# A concept the reference does not know: clients must keep it raw.
GENERATED_CONCEPT_LABELS = {**CONCEPT_LABELS, "HOLIDAY_PAY": "Holiday pay"}


class InvoiceKind(StrEnum):
    """How an invoice's life goes (its versions over time)."""

    PAID = "paid"  # born PAID (Ontop+ generates invoices after payment)
    PENDING_THEN_PAID = "pending_then_paid"  # changes after being first seen
    PENDING = "pending"  # stays unpaid
    DRAFT_THEN_PENDING = "draft_then_pending"
    CANCELLED = "cancelled"  # PENDING, then CANCELLED
    CORRECTED = "corrected"  # PENDING, then CANCELLED with a correction `change_lag` invoices later
    CORRECTION = "correction"  # PAID, replaces the invoice `change_lag` indices earlier


KIND_WEIGHTS = (
    (InvoiceKind.PAID, 68),
    (InvoiceKind.PENDING_THEN_PAID, 15),
    (InvoiceKind.PENDING, 4),
    (InvoiceKind.DRAFT_THEN_PENDING, 3),
    (InvoiceKind.CANCELLED, 5),
    (InvoiceKind.CORRECTED, 5),
)
KINDS = [kind for kind, _ in KIND_WEIGHTS]
KIND_CUMULATIVE_WEIGHTS = list(itertools.accumulate(weight for _, weight in KIND_WEIGHTS))
CHANGING_KINDS = frozenset(
    {InvoiceKind.PENDING_THEN_PAID, InvoiceKind.DRAFT_THEN_PENDING, InvoiceKind.CANCELLED, InvoiceKind.CORRECTED}
)


@dataclass(frozen=True)
class GeneratedWorker:
    index: int
    agreement_id: int
    email: str
    first_name: str | None
    last_name: str | None
    legal_name: str | None
    type_of_worker: str
    job_title: str | None
    place: Place
    external_id: str
    status: str
    contract_type: str
    rate: Decimal  # per month (fixed) or per hour (pay per task), in the contract currency
    start_date: date
    end_date: date | None
    created_at: datetime

    @property
    def payable(self) -> bool:
        return self.status in ("ACTIVE", "ENDED")

    def worker_row(self) -> dict[str, Any]:
        """The A.4 workers-list element (null names while invited)."""
        invited = self.status == "INVITATION_SENT"
        return {
            "agreementId": self.agreement_id,
            "firstName": None if invited else self.first_name,
            "lastName": None if invited else self.last_name,
            "legalName": None if invited else self.legal_name,
            "email": self.email,
            "jobTitle": None if invited else self.job_title,
            "country": None if invited else self.place.country,
            "externalId": self.external_id,
            "workerCreationDate": timestamp_ms(self.created_at),
            "status": self.status,
        }

    def agreement_row(self) -> dict[str, Any]:
        """The B.3 agreement."""
        per_task = self.contract_type == "PAY_PER_TASK"
        return {
            "agreementId": self.agreement_id,
            "workerEmail": self.email,
            "externalId": self.external_id,
            "status": self.status,
            "typeOfWorker": self.type_of_worker,
            "contractType": self.contract_type,
            "hiringModel": "YOU_HIRE" if self.index % 3 else "ONTOP_HIRE",
            "jobTitle": self.job_title,
            "countryIso": self.place.country_iso,
            "currency": self.place.currency,
            "rate": money_text(self.rate, self.place.currency),
            "rateUnit": "HOUR" if per_task else None,
            "paymentCycle": "MONTHLY",
            "startDate": self.start_date.isoformat(),
            "endDate": self.end_date.isoformat() if self.end_date else None,
            "creationDate": timestamp_ms(self.created_at),
            "updateDate": timestamp_ms(self.created_at + timedelta(days=2, milliseconds=317)),
        }


class Change(NamedTuple):
    """An invoice's latest update as of some moment; sorts by (update time, invoice id)."""

    updated_at: datetime
    invoice_id: int
    position: int  # the generator index


@dataclass(frozen=True)
class InvoiceVersion:
    """One invoice as it reads at `updated_at` (a wire row)."""

    index: int
    invoice_id: int
    updated_at: datetime
    row: dict[str, Any]


class CompanyGenerator:
    """N workers and M invoices over K months, the same for the same seed."""

    def __init__(
        self, workers: int = 40, invoices: int = 400, months: int = 6, seed: int = 7, start: datetime = DEFAULT_START
    ) -> None:
        if workers < 8:
            raise ValueError("the generator needs at least 8 workers to cover every special case")
        self.seed = seed
        self.invoice_count = invoices
        self.months = months
        self.start = start
        self.end = add_months(start, months)
        self._span_ms = int((self.end - start).total_seconds() * 1000)
        # Invoices change this many indices after they are created (about five days).
        self.change_lag = max(1, invoices * 5 // max(1, months * 30))
        self.workers = [self._worker(index) for index in range(workers)]
        # One email on two agreements: worker 4 is a second contract of worker 3.
        first = self.workers[3]
        self.workers[4] = replace(
            self.workers[4], email=first.email, first_name=first.first_name, last_name=first.last_name
        )
        self._payable = [worker for worker in self.workers if worker.payable]

    # ---- workers ----

    def _hash(self, salt: int, index: int) -> int:
        """A cheap deterministic 64-bit hash (splitmix64) for per-index choices; seeding a Random costs more."""
        value = ((self.seed * 1_000_003 + index) * 16 + salt + 0x9E3779B97F4A7C15) & _MASK64
        value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
        return value ^ (value >> 31)

    def _rng(self, salt: int, index: int) -> random.Random:
        return random.Random((self.seed * 1_000_003 + index) * 16 + salt)

    def _worker(self, index: int) -> GeneratedWorker:
        rng = self._rng(1, index)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if index == 6:
            last = "O'Connor"  # an apostrophe, always
        roll = rng.random()
        business = index == 0 or (index > 7 and roll < 0.12)
        status = "ACTIVE"
        if index == 1 or (index > 7 and 0.12 <= roll < 0.17):
            status = "INVITATION_SENT"
        elif index == 2 or (index > 7 and 0.17 <= roll < 0.25):
            status = "ENDED"
        elif index == 5 or (index > 7 and 0.25 <= roll < 0.28):
            status = "VERIFICATION_PENDING"
        place = PLACES[2] if index == 0 else rng.choices(PLACES, PLACE_WEIGHTS)[0]
        email = f"{ascii_fold(first)}.{ascii_fold(last)}{index}@example.com"
        per_task = index == 7 or (index > 7 and rng.random() < 0.15)
        usd_monthly = Decimal(rng.randrange(1500, 9000, 50))
        rate_usd = (usd_monthly / 160).quantize(Decimal("0.01")) if per_task else usd_monthly
        rate = round_money(rate_usd * USD_RATES[place.currency], place.currency)
        created = self.start - timedelta(days=rng.randint(30, 700), seconds=rng.randint(0, 86_399))
        created = created.replace(microsecond=rng.randint(0, 999) * 1000)
        ended = status == "ENDED"
        return GeneratedWorker(
            index=index,
            agreement_id=FIRST_AGREEMENT_ID + index,
            email=email,
            first_name=first,
            last_name=last,
            legal_name=rng.choice(BUSINESS_NAMES) if business else None,
            type_of_worker="Business" if business else "Worker",
            job_title=rng.choice(JOB_TITLES),
            place=place,
            external_id=f"SFK{index:03d}",
            status=status,
            contract_type="PAY_PER_TASK" if per_task else "FIXED_AMOUNT",
            rate=rate,
            start_date=(created + timedelta(days=5)).date(),
            end_date=(self.end - timedelta(days=30 + index % 20)).date() if ended else None,
            created_at=created,
        )

    # ---- invoices ----

    def created_at(self, index: int) -> datetime:
        """When invoice `index` first exists; grows with the index (also past the last one, for late changes)."""
        return self.start + timedelta(milliseconds=self._span_ms * index // self.invoice_count)

    def invoice_id(self, index: int) -> int:
        return FIRST_INVOICE_ID + index

    def index_of(self, invoice_id: int) -> int | None:
        index = invoice_id - FIRST_INVOICE_ID
        return index if 0 <= index < self.invoice_count else None

    def kind(self, index: int) -> InvoiceKind:
        lag = self.change_lag
        if index >= lag and self._base_kind(index - lag) == InvoiceKind.CORRECTED:
            return InvoiceKind.CORRECTION
        return self._base_kind(index)

    def _base_kind(self, index: int) -> InvoiceKind:
        roll = self._hash(2, index) % KIND_CUMULATIVE_WEIGHTS[-1]
        kind = KINDS[bisect.bisect_right(KIND_CUMULATIVE_WEIGHTS, roll)]
        # Corrections land `change_lag` later, in an odd block; originals only in even blocks, so no chains.
        if kind == InvoiceKind.CORRECTED and (index // self.change_lag) % 2 == 1:
            return InvoiceKind.PAID
        return kind

    def worker_for(self, index: int) -> GeneratedWorker:
        if self.kind(index) == InvoiceKind.CORRECTION:
            return self.worker_for(index - self.change_lag)
        created = self.created_at(index).date()
        worker = self._payable[self._hash(3, index) % len(self._payable)]
        if worker.end_date and created > worker.end_date:
            active = [candidate for candidate in self._payable if candidate.end_date is None]
            worker = active[index % len(active)]
        return worker

    def _timeline(self, index: int) -> list[tuple[str, datetime]]:
        """(status, update time) of each version of invoice `index`, oldest first; cheap (no row is built)."""
        kind = self.kind(index)
        created = self.created_at(index)
        if kind not in CHANGING_KINDS:
            return [("PENDING" if kind == InvoiceKind.PENDING else "PAID", created)]
        later = self._latest_update(index)
        if kind == InvoiceKind.DRAFT_THEN_PENDING:
            return [("DRAFT", created), ("PENDING", later)]
        if kind == InvoiceKind.PENDING_THEN_PAID:
            return [("PENDING", created), ("PAID", later)]
        return [("PENDING", created), ("CANCELLED", later)]

    def versions(self, index: int) -> list[InvoiceVersion]:
        """Every version of invoice `index`, oldest first."""
        created = self.created_at(index)
        return [self._version(index, status, created, updated) for status, updated in self._timeline(index)]

    def version_at(self, index: int, now: datetime) -> InvoiceVersion | None:
        """Invoice `index` as it reads at `now`, or None before it exists."""
        current = None
        for status, updated in self._timeline(index):
            if updated <= now:
                current = (status, updated)
        if current is None:
            return None
        return self._version(index, current[0], self.created_at(index), current[1])

    def updated_at(self, index: int, now: datetime) -> datetime | None:
        """When invoice `index` last changed as of `now` (None before it exists)."""
        moments = [updated for _, updated in self._timeline(index) if updated <= now]
        return moments[-1] if moments else None

    def invoice_rows(self, now: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every invoice as of `now` (default: the end of the period), in index order; computed one at a time."""
        moment = now or self.end + timedelta(days=365)
        for index in range(self.invoice_count):
            version = self.version_at(index, moment)
            if version is None:
                return
            yield version.row

    def changes_between(
        self, now: datetime, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Change]:
        """Invoices as of `now` whose update time is in [since, until), sorted by (update time, id), streaming.

        An update happens at most `change_lag` indices after creation, so a heap of that size is enough.
        """
        first = 0 if since is None else max(0, self.first_index_created_at(since) - self.change_lag - 1)
        pending: list[Change] = []
        index = first
        while True:
            created = self.created_at(index) if index < self.invoice_count else None
            exhausted = created is None or created > now or (until is not None and created >= until)
            # Every later index changes at or after `created`, so what sorts before it is final.
            while pending and (exhausted or (created is not None and pending[0].updated_at < created)):
                yield heapq.heappop(pending)
            if exhausted:
                return
            updated = self.updated_at(index, now)
            if updated is not None and (since is None or updated >= since) and (until is None or updated < until):
                heapq.heappush(pending, Change(updated, self.invoice_id(index), index))
            index += 1

    def count_changed_between(self, now: datetime, since: datetime | None = None, until: datetime | None = None) -> int:
        """How many items `changes_between` yields, in O(change_lag): only indices near the edges are examined."""
        lag = self.change_lag
        visible_end = self.first_index_created_at(now, strictly_after=True)  # indices < this exist at `now`
        low = 0 if since is None else self.first_index_created_at(since)
        # Indices whose every possible update time lies inside [since, until) count without looking at them.
        high = visible_end if until is None else min(visible_end, self._first_index_changing_at_or_after(until))
        certain = max(0, high - low)
        edges = set(range(max(0, low - lag - 1), min(low, visible_end)))
        edges |= set(
            range(
                max(low, high), visible_end if until is None else min(visible_end, self.first_index_created_at(until))
            )
        )
        uncertain = 0
        for index in edges:
            updated = self.updated_at(index, now)
            if updated is not None and (since is None or updated >= since) and (until is None or updated < until):
                uncertain += 1
        return certain + uncertain

    def first_index_created_at(self, moment: datetime, *, strictly_after: bool = False) -> int:
        """The first index created at or after `moment` (strictly after with `strictly_after`); may be the count."""
        search = bisect.bisect_right if strictly_after else bisect.bisect_left
        return min(self.invoice_count, search(range(self.invoice_count), moment, key=self.created_at))

    def _first_index_changing_at_or_after(self, moment: datetime) -> int:
        """The first index whose latest possible update (creation + lag, + 137 ms) is at or after `moment`."""
        late = range(self.invoice_count)
        return bisect.bisect_left(late, moment, key=lambda index: self._latest_update(index))

    def _latest_update(self, index: int) -> datetime:
        return self.created_at(index + self.change_lag) + LATE_CHANGE_OFFSET

    # ---- one invoice's content ----

    def _version(self, index: int, status: str, created: datetime, updated: datetime) -> InvoiceVersion:
        kind = self.kind(index)
        source_index = index - self.change_lag if kind == InvoiceKind.CORRECTION else index
        worker = self.worker_for(index)
        currency = worker.place.currency
        lines = self._lines(source_index, worker, corrected=kind == InvoiceKind.CORRECTION)
        total = sum((line[2] for line in lines), Decimal(0))
        month_index = max(0, (created.year - self.start.year) * 12 + created.month - self.start.month)
        rate = fx_rate(currency, month_index)
        priced = status == "PAID" or currency == "USD"
        period_start = created.date().replace(day=1)
        period_end = period_start.replace(day=calendar.monthrange(period_start.year, period_start.month)[1])
        row: dict[str, Any] = {
            "invoiceId": self.invoice_id(index),
            "invoiceNumber": f"INV-{created.year}-{created.month:02d}-{index + 1:06d}",
            "agreementId": worker.agreement_id,
            "workerEmail": worker.email,
            "externalId": worker.external_id,
            "status": status,
            "periodStart": period_start.isoformat(),
            "periodEnd": period_end.isoformat(),
            "issueDate": created.date().isoformat(),
            "dueDate": (created.date() + timedelta(days=5)).isoformat(),
            "paidDate": updated.date().isoformat() if status == "PAID" else None,
            "currency": currency,
            "total": money_text(total, currency),
            "exchangeRate": f"{rate:.6f}" if priced else None,
            "totalUsd": str(usd(total, rate)) if priced else None,
            "pdfAvailable": status in ("PAID", "PENDING"),
            "notes": None,
            "lines": [
                {
                    "lineNumber": number,
                    "concept": concept,
                    "conceptLabel": GENERATED_CONCEPT_LABELS[concept],
                    "title": title,
                    "quantity": None if quantity is None else f"{quantity:.1f}",
                    "unitAmount": None if quantity is None else money_text(worker.rate, currency),
                    "amount": money_text(amount, currency),
                    "amountUsd": str(usd(amount, rate)) if priced else None,
                }
                for number, (concept, title, amount, quantity) in enumerate(lines, 1)
            ],
            "creationDate": timestamp_ms(created),
            "updateDate": timestamp_ms(updated),
        }
        if kind == InvoiceKind.CORRECTION:
            original = self.invoice_id(index - self.change_lag)
            row["correctsInvoiceId"] = original
            row["notes"] = f"Corrects invoice {original}"
        if kind == InvoiceKind.CORRECTED and status == "CANCELLED":
            row["correctedByInvoiceId"] = self.invoice_id(index + self.change_lag)
        return InvoiceVersion(index=index, invoice_id=self.invoice_id(index), updated_at=updated, row=row)

    def _lines(
        self, index: int, worker: GeneratedWorker, *, corrected: bool
    ) -> list[tuple[str, str, Decimal, Decimal | None]]:
        """(concept, title, amount, quantity) per line: compensation, then up to 5 extras and fees."""
        rng = self._rng(4, index)
        currency = worker.place.currency
        created = self.created_at(index)
        month = f"{calendar.month_name[created.month]} {created.year}"
        quantity: Decimal | None = None
        if worker.contract_type == "PAY_PER_TASK":
            quantity = Decimal(rng.randrange(400, 1600)) / 10 + (Decimal(8) if corrected else 0)  # hours
            base = round_money(quantity * worker.rate, currency)
        else:
            base = round_money(worker.rate * Decimal("1.05"), currency) if corrected else worker.rate
        lines: list[tuple[str, str, Decimal, Decimal | None]] = [("COMPENSATION", month, base, quantity)]
        extras: list[tuple[str, str, str]] = []  # (concept, title, typical share of the base)
        if rng.random() < 0.18:
            extras.append(("BONUS", rng.choice(("Q2 delivery bonus", "Performance bonus", "Referral bonus")), "0.1"))
        if rng.random() < 0.10:
            extras.append(("COMMISSION", "Sales commission", "0.07"))
        if rng.random() < 0.12:
            extras.append(("REIMBURSEMENT", rng.choice(("Coworking", "Laptop repair", "Internet")), "0.03"))
        if rng.random() < 0.02:
            extras.append(("HOLIDAY_PAY", "Holiday pay", "0.05"))
        for concept, title, share in extras[:5]:
            fraction = Decimal(share) * Decimal(rng.randint(50, 150)) / 100
            lines.append((concept, title, round_money(base * fraction, currency), None))
        if rng.random() < 0.10:
            lines.append(
                ("FEE", "Ontop membership fee", round_money(Decimal(49) * USD_RATES[currency], currency), None)
            )
        if rng.random() < 0.02:
            deduction = -round_money(base * Decimal("0.02"), currency)
            lines.append(("DEDUCTION", "Equipment deduction", deduction, None))
        return lines


def ascii_fold(text: str) -> str:
    """ "Muñoz" -> "munoz", "O'Connor" -> "oconnor": a plausible email local part."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in plain.lower() if char.isalnum())


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    return moment.replace(year=moment.year + month // 12, month=month % 12 + 1, day=1)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def money_text(amount: Decimal, currency: str) -> str:
    """A Decimal string at the currency's minor-unit scale, never with an exponent (B.4)."""
    return format(round_money(amount, currency), "f")


def fx_rate(currency: str, month_index: int) -> Decimal:
    """Units of `currency` per USD in a month, 6 decimals; drifts a little, ARS inflates 2% a month."""
    base = USD_RATES[currency]
    if currency == "USD":
        return Decimal("1.000000")
    drift = Decimal(1) + Decimal((month_index % 5) - 2) / 200
    if currency == "ARS":
        drift *= Decimal("1.02") ** month_index
    return (base * drift).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def usd(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount / rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def timestamp_ms(moment: datetime) -> str:
    """`2023-09-21T14:42:38.793+00:00`, the /contract/* timestamp form."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
