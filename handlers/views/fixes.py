"""The "Fix the rest…" modal: every fix of a run that its summary had no room for, one button each."""

from __future__ import annotations

from typing import Any

from handlers.blocks import VIEW_BLOCK_LIMIT, context, escape, section, truncate
from handlers.ids import MiscIds
from handlers.labels import counted
from handlers.run_messages import FIX_BUTTONS_SHOWN, failure_groups, fix_button, summary_fixes
from handlers.views.common import modal
from sync.api import RunSummary

FIXES_SHOWN = VIEW_BLOCK_LIMIT - 3  # a heading, the fixes, and "…and N more"


def fixes_view(summary: RunSummary, *, skip: int = FIX_BUTTONS_SHOWN) -> dict[str, Any]:
    """The fixes after the first `skip` (those the summary shows), each with what it fixes and how many invoices.

    Each fix is a section with its button as accessory: one button per block, so two "Map …" buttons never share
    a block (Slack wants action ids unique per block).
    """
    fixes = summary_fixes(failure_groups(summary))
    remaining = fixes[skip:] or fixes  # the summary may be older than the run's state: then offer them all
    if not remaining:
        text = f"Nothing is left to fix for sync #{summary.run_id}."
        return modal("Fixes", [section(text)], callback_id=MiscIds.RESULT, close="Done")
    blocks: list[dict[str, Any]] = [
        section(f"*Sync #{summary.run_id}*: {counted(len(remaining), 'more fix', 'more fixes')}, one button each.")
    ]
    for fix, target in remaining[:FIXES_SHOWN]:
        what = [f"*{escape(truncate(target.name, 200))}*"] if target.name else []
        if target.count is not None:
            what.append(counted(target.count, "invoice"))
        what.append(escape(truncate(target.reason, 500)))
        blocks.append(section(" · ".join(what), accessory=fix_button(fix, target.name)))
    if len(remaining) > FIXES_SHOWN:
        blocks.append(context(f"…and {len(remaining) - FIXES_SHOWN:,} more: fix these first, then open this again."))
    return modal("Fixes", blocks, callback_id=MiscIds.RESULT, close="Done")
