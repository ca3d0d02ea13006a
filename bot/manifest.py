"""The Slack app manifest with a deployment's public URL filled in."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
PLACEHOLDER = "https://example.com"


def render_manifest(public_base_url: str, source: Path = MANIFEST) -> str:
    """manifest.yml with every placeholder URL pointing at this deployment."""
    base = public_base_url.rstrip("/")
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    # Comments keep talking about the placeholder; every URL Slack reads points at this deployment.
    return "".join(line if line.lstrip().startswith("#") else line.replace(PLACEHOLDER, base) for line in lines)
