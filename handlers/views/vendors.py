"""The suppliers modal: Ontop contracts next to their QuickBooks match, paged; submit creates the missing ones."""

from __future__ import annotations

import json
from typing import Any

from handlers.blocks import actions, button, context, escape, section, truncate
from handlers.ids import VendorIds
from handlers.labels import counted
from handlers.views.common import modal
from sync.api import VendorCreateResult, VendorMatch, VendorPreview, VendorPreviewRow

PAGE_SIZE = 40  # rows per page: header blocks + 40 rows + paging stay far below 100 blocks

MATCH_LABELS = {
    VendorMatch.LINKED: ":white_check_mark: linked",
    VendorMatch.MATCH_EMAIL: ":link: will link (same email)",
    VendorMatch.MATCH_NAME: ":link: will link (same name)",
    VendorMatch.WILL_CREATE: ":heavy_plus_sign: will create",
    VendorMatch.CONFLICT: ":warning: needs attention",
    VendorMatch.NOT_READY: ":hourglass: not ready",
}
ACTIONABLE = (VendorMatch.MATCH_EMAIL, VendorMatch.MATCH_NAME, VendorMatch.WILL_CREATE)


def page_count(rows: int) -> int:
    return max(1, (rows + PAGE_SIZE - 1) // PAGE_SIZE)


def vendor_row_text(row: VendorPreviewRow) -> str:
    """One contract and its match; names, emails and notes come from Ontop and QuickBooks, so all are escaped."""
    parts = [f"*{escape(truncate(row.worker_name, 300))}*"]
    if row.email:
        parts.append(escape(truncate(row.email, 300)))
    if row.currency:
        parts.append(escape(row.currency))
    line = " · ".join(parts) + f"\n{MATCH_LABELS[row.match]}"
    if row.qbo_vendor_name:
        line += f" → {escape(truncate(row.qbo_vendor_name, 300))}"
    if row.note:
        line += f" _({escape(truncate(row.note, 1000))})_"
    return truncate(line, 3000)


def vendors_view(preview: VendorPreview, page: int = 0) -> dict[str, Any]:
    """One page of the preview; the submit button (when anything is to do) links and creates suppliers."""
    pages = page_count(len(preview.rows))
    page = min(max(page, 0), pages - 1)
    to_create = preview.count(VendorMatch.WILL_CREATE)
    to_link = preview.count(VendorMatch.MATCH_EMAIL) + preview.count(VendorMatch.MATCH_NAME)
    summary = (
        f"*{len(preview.rows)}* Ontop contracts: {preview.count(VendorMatch.LINKED)} linked, {to_link} to link, "
        f"{to_create} to create, {preview.count(VendorMatch.CONFLICT)} need attention"
    )
    blocks: list[dict[str, Any]] = [section(summary)]
    if not preview.rows:
        blocks.append(section("No worker contracts found in Ontop yet."))
    rows = preview.rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    blocks.extend(section(vendor_row_text(row)) for row in rows)
    if pages > 1:
        paging = []
        if page > 0:
            paging.append(button("Previous", f"{VendorIds.PAGE}-prev", value=str(page - 1)))
        if page < pages - 1:
            paging.append(button("Next", f"{VendorIds.PAGE}-next", value=str(page + 1)))
        blocks.append(context(f"Page {page + 1} of {pages}"))
        blocks.append(actions(paging, block_id=f"vendors-paging-{page}"))
    metadata = json.dumps({"page": page})
    if to_create or to_link:
        blocks.append(context("Nothing in QuickBooks is changed or deleted: I only add and link suppliers."))
        submit = truncate(submit_label(to_create, to_link), 24)
        return modal("Suppliers", blocks, callback_id=VendorIds.CALLBACK, submit=submit, private_metadata=metadata)
    return modal("Suppliers", blocks, callback_id=VendorIds.CALLBACK, private_metadata=metadata)


def submit_label(to_create: int, to_link: int) -> str:
    """ "Create 3, link 2", or only the part that is not zero."""
    parts = [f"create {to_create}" if to_create else "", f"link {to_link}" if to_link else ""]
    return ", ".join(part for part in parts if part).capitalize()


def vendors_result_lines(result: VendorCreateResult) -> tuple[str, list[str]]:
    """The headline and detail lines (mrkdwn, names and reasons escaped) of the creation result."""
    done = []
    if result.created:
        done.append(f"created {counted(len(result.created), 'supplier')}")
    if result.linked:
        done.append(f"linked {counted(len(result.linked), 'existing supplier')}")
    headline = (" and ".join(done) or "nothing was created or linked").capitalize() + "."
    if result.failed:
        headline += f" {counted(len(result.failed), 'worker')} could not be done."
    details: list[str] = []
    if result.created:
        details.append("Created: " + ", ".join(escape(name) for name in result.created))
    if result.linked:
        details.append("Linked: " + ", ".join(escape(name) for name in result.linked))
    details.extend(f"Not done: {escape(name)}: {escape(reason)}" for name, reason in result.failed)
    return headline, details[:10]
