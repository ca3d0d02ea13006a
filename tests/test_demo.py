"""`make demo` is the product's front door: it must walk the whole journey and prove its own end state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_demo_walks_every_step_and_verifies_quickbooks(tmp_path: Path) -> None:
    summary = tmp_path / "demo.json"
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "demo", "--json", str(summary)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    transcript = result.stdout
    for step in (
        "installs the app",
        "/qbo settings",
        "only workspace admins",  # Bob is refused
        "QuickBooks company Northwind Design Studio connected",
        "Ontop did not accept this email and password",  # the typo is caught inline
        "/qbo vendors",
        "is not a supplier in QuickBooks",  # the failure ...
        "is not mapped to a QuickBooks account",
        "[Create supplier]",  # ... and its fixes
        "webhook",
        "/qbo status",
        "QuickBooks disconnected",
        "every promise held",
    ):
        assert step in transcript, step
    verdict = json.loads(summary.read_text())
    assert verdict["ok"] is True
    assert verdict["bills"] == verdict["paid_invoices"] > 0
    assert verdict["missing"] == verdict["duplicated"] == verdict["wrong_amounts"] == []
    assert verdict["preexisting_touched"] == 0
    assert "Traceback" not in result.stderr
