"""Class and Department (location) lists and the tracking preferences that gate them (reference §5, §6.2, §6.3).

- Both are name lists: seedable with inactive records, queryable (plain queries hide inactive ones, §8), made
  inactive with a sparse update, never deleted (§3). The reference documents no create for either, so the
  emulator refuses one (a test or the demo seeds them instead).
- A Bill line's `ClassRef` needs `Preferences.AccountingInfoPrefs.ClassTrackingPerLine` (§5); a `DepartmentRef`
  is "location at header level" and the reference says nothing about `TrackDepartments` gating it. For both, with
  the preference off the emulator takes the strict reading and refuses the ref (6000: the reference names no code).
- An unknown or inactive class or location is refused with 2500 "Invalid Reference Id", `element` naming the ref
  (§13.3, checklist item 14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulators.qbo.faults import active_ref, business

if TYPE_CHECKING:
    from emulators.qbo.state import Company, QboEmulatorState

TRACKING_KINDS = ("Class", "Department")
PREFERENCE_FLAGS = ("class_tracking_per_line", "class_tracking_per_txn", "track_departments")
DEFAULT_CLASSES: list[dict[str, Any]] = [
    {"name": "Engineering"},
    {"name": "Platform", "parent": "Engineering"},
    {"name": "Sales"},
    {"name": "Marketing"},
    {"name": "Research (closed)", "active": False},
]
DEFAULT_DEPARTMENTS: list[dict[str, Any]] = [
    {"name": "United States"},
    {"name": "Latin America"},
    {"name": "Europe"},
    {"name": "Asia (closed)", "active": False},
]


def add_tracking_entity(
    state: QboEmulatorState, company: Company, kind: str, name: str, *, parent: str | None = None, active: bool = True
) -> dict[str, Any]:
    """Store a Class or Department (long opaque Id, as QBO gives classes); `parent` is the parent's Name."""
    if kind not in TRACKING_KINDS:
        raise ValueError(f"kind must be Class or Department, not {kind!r}")
    sub = "SubClass" if kind == "Class" else "SubDepartment"
    body: dict[str, Any] = {"Name": name, "FullyQualifiedName": name, sub: False, "Active": active}
    if parent is not None:
        holder = state.find_by(company, kind, "Name", parent)
        if holder is None:
            raise ValueError(f"no {kind} named {parent!r} to be the parent of {name!r}")
        full_name = f"{holder['FullyQualifiedName']}:{name}"
        body.update({sub: True, "ParentRef": {"value": holder["Id"]}, "FullyQualifiedName": full_name})
    return state.add_entity(company, kind, body, entity_id=company.opaque_id())


def seed_tracking(
    state: QboEmulatorState,
    company: Company,
    classes: list[dict[str, Any]] | None,
    departments: list[dict[str, Any]] | None,
) -> None:
    """Seed the class and department lists: [{"name", "parent"?, "active"?}], the defaults when None."""
    for kind, rows in (("Class", DEFAULT_CLASSES if classes is None else classes),
                       ("Department", DEFAULT_DEPARTMENTS if departments is None else departments)):  # fmt: skip
        for row in rows:
            add_tracking_entity(
                state, company, kind, str(row["name"]), parent=row.get("parent"), active=bool(row.get("active", True))
            )


def accounting_info_prefs(company: Company) -> dict[str, bool]:
    """`Preferences.AccountingInfoPrefs`: the class and department tracking flags."""
    return {
        "ClassTrackingPerLine": company.class_tracking_per_line,
        "ClassTrackingPerTxn": company.class_tracking_per_txn,
        "TrackDepartments": company.track_departments,
    }


def check_tracking_refs(company: Company, txn: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    """Check and name a transaction's DepartmentRef and its lines' ClassRefs (see the module docstring)."""
    for line in lines:
        detail = line["AccountBasedExpenseLineDetail"]
        if "ClassRef" not in detail:
            continue
        if not company.class_tracking_per_line:
            raise business("Class tracking per line is turned off for this company.", "ClassRef")
        found = active_ref(company, "Class", detail["ClassRef"], "ClassRef")
        detail["ClassRef"] = {"value": found["Id"], "name": found["FullyQualifiedName"]}
    if "DepartmentRef" in txn:
        if not company.track_departments:
            raise business("Location tracking is turned off for this company.", "DepartmentRef")
        found = active_ref(company, "Department", txn["DepartmentRef"], "DepartmentRef")
        txn["DepartmentRef"] = {"value": found["Id"], "name": found["FullyQualifiedName"]}
