"""The Slack app manifest with a deployment's public URL filled in."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
PLACEHOLDER = "https://example.com"


def render_manifest(public_base_url: str, source: Path = MANIFEST) -> str:
    """manifest.yml with every placeholder URL pointing at this deployment."""
    if not public_base_url.startswith("https://"):
        raise ValueError("Slack needs an https:// public address")
    return source.read_text(encoding="utf-8").replace(PLACEHOLDER, public_base_url.rstrip("/"))
