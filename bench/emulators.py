"""The emulators in their own processes, as the issue asks: the bot's CPU and the emulators' never share a GIL.

`python -m bench.emulators qbo|ontop --port N ...` is what the parent starts; `EmulatorProcess` starts one, waits
for its port and stops it (only the process it started).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from devtools.server import free_port
from emulators.ontop.generator import CompanyGenerator, InvoiceVersion


class NoPdfCompany(CompanyGenerator):
    """The same generated company, but no invoice offers a PDF (the "without attachments" throughput run)."""

    def _version(self, index: int, status: str, created: datetime, updated: datetime) -> InvoiceVersion:
        version = super()._version(index, status, created, updated)
        return replace(version, row={**version.row, "pdfAvailable": False})


class EmulatorProcess:
    """One emulator in a child process on a free loopback port; `with EmulatorProcess([...]) as emu: emu.url`."""

    def __init__(self, kind: str, options: list[str], *, start_timeout_seconds: float = 30.0) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [sys.executable, "-m", "bench.emulators", kind, "--port", str(self.port), *options]
        self._timeout = start_timeout_seconds
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmulatorProcess:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.kind} emulator exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.kind} emulator did not listen on {self.port} within {self._timeout}s")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def qbo_process(*, time_scale: float = 1.0, rate_limits: bool = True, multicurrency: bool = True) -> EmulatorProcess:
    """The QBO emulator with every check on (its duplicate-DocNumber check is an index look-up, cheap at any size)."""
    options = ["--time-scale", str(time_scale)]
    if not rate_limits:
        options.append("--no-rate-limits")
    if multicurrency:
        options.append("--multicurrency")
    return EmulatorProcess("qbo", options)


def ontop_process(*, workers: int, invoices: int, months: int, seed: int = 7, pdfs: bool = True) -> EmulatorProcess:
    options = ["--workers", str(workers), "--invoices", str(invoices), "--months", str(months), "--seed", str(seed)]
    if not pdfs:
        options.append("--no-pdfs")
    return EmulatorProcess("ontop", options)


def qbo_stats(url: str) -> dict[str, Any]:
    """The emulator's request counts per realm and how many it throttled (429)."""
    answer = httpx.get(f"{url}/_emulator/stats", timeout=10)
    answer.raise_for_status()
    stats: dict[str, Any] = answer.json()
    return stats


def qbo_audit(url: str) -> list[dict[str, Any]]:
    """Every write the emulator took, in order: operation, entity, id and the requestid it came with (a batch
    call's items share the call's)."""
    answer = httpx.get(f"{url}/_emulator/audit", timeout=60)
    answer.raise_for_status()
    audit: list[dict[str, Any]] = answer.json()["audit"]
    return audit


def qbo_entities(url: str, kind: str) -> list[dict[str, Any]]:
    """Every entity of a kind the emulator holds for its default realm (Bill, BillPayment, Attachable, ...)."""
    answer = httpx.get(f"{url}/_emulator/entities/{kind}", timeout=60)
    answer.raise_for_status()
    entities: list[dict[str, Any]] = answer.json()["entities"]
    return entities


# --- the child side ---------------------------------------------------------------------------------------------


def _serve_qbo(args: argparse.Namespace) -> None:
    import uvicorn

    from emulators.qbo.app import create_qbo_emulator
    from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState

    state = QboEmulatorState(seed=args.seed)
    state.switches.time_scale = args.time_scale
    state.switches.rate_limits_enabled = not args.no_rate_limits
    state.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)  # any redirect URI
    state.seed_company(DEFAULT_REALM, multicurrency_enabled=args.multicurrency)
    uvicorn.run(create_qbo_emulator(state), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def _serve_ontop(args: argparse.Namespace) -> None:
    import uvicorn

    from emulators.ontop.app import OntopEmulatorState, create_ontop_emulator

    company_type = NoPdfCompany if args.no_pdfs else CompanyGenerator
    generator = company_type(workers=args.workers, invoices=args.invoices, months=args.months, seed=args.seed)
    state = OntopEmulatorState(generator=generator)
    uvicorn.run(create_ontop_emulator(state), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.emulators")
    kinds = parser.add_subparsers(dest="kind", required=True)
    qbo = kinds.add_parser("qbo")
    qbo.add_argument("--port", type=int, required=True)
    qbo.add_argument("--time-scale", type=float, default=1.0)
    qbo.add_argument("--no-rate-limits", action="store_true")
    qbo.add_argument("--multicurrency", action="store_true")
    qbo.add_argument("--seed", type=int, default=3)
    ontop = kinds.add_parser("ontop")
    ontop.add_argument("--port", type=int, required=True)
    ontop.add_argument("--workers", type=int, default=40)
    ontop.add_argument("--invoices", type=int, default=400)
    ontop.add_argument("--months", type=int, default=6)
    ontop.add_argument("--seed", type=int, default=7)
    ontop.add_argument("--no-pdfs", action="store_true")
    args = parser.parse_args(argv)
    if args.kind == "qbo":
        _serve_qbo(args)
    else:
        _serve_ontop(args)


if __name__ == "__main__":
    main()
