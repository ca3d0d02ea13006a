"""The product distribution carries no test doubles; the emulators and dev tools are distributions of their own."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "handlers", "sync", "storage")


def test_the_product_wheel_packages_only_the_four_product_packages() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(where=str(ROOT), include=include)
    assert {name.split(".")[0] for name in packages} == set(PRODUCT)
    assert not [name for name in packages if name.split(".")[0] in ("emulators", "devtools", "tests", "bench")]


def test_the_emulators_and_dev_tools_are_separate_distributions() -> None:
    emulators = tomllib.loads((ROOT / "emulators" / "pyproject.toml").read_text())
    devtools = tomllib.loads((ROOT / "devtools" / "pyproject.toml").read_text())
    assert emulators["project"]["name"] == "qbo-bot-emulators"
    assert "qbo-bot" not in emulators["project"]["dependencies"]  # built from the references, not the product
    assert devtools["project"]["name"] == "qbo-bot-devtools"
    assert set(devtools["project"]["dependencies"]) == {"qbo-bot", "qbo-bot-emulators"}
