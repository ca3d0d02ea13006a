"""`qbo-bot`: the one command line entry point."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from bot.config import MissingSettingsError, Settings, load_settings
from storage.crypto import SecretsKeyError

app = typer.Typer(
    name="qbo-bot",
    help="Sync Ontop contractor invoices into QuickBooks Online, from Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema: upgrade, show the current revision.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for secrets at rest.", no_args_is_help=True)
emulator_app = typer.Typer(help="Run a local emulator of QuickBooks Online or Ontop.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(emulator_app, name="emulator")


class CliError(Exception):
    """An error the user can act on: printed as one message, exit status 1."""


def fail(message: str, status: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def settings_for(command: str) -> Settings:
    settings = load_settings()
    settings.require(command)
    return settings


# --- db -----------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Create or migrate the database schema (DATABASE_URL)."""
    from storage import migrate
    from storage.db import create_engine

    settings = load_settings()

    async def run() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await migrate.upgrade(engine, revision)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(run())
    typer.echo(f"database is at revision {current}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision the database is at."""
    from storage import migrate
    from storage.db import create_engine

    settings = load_settings()

    async def run() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    typer.echo(asyncio.run(run()) or "empty (run `qbo-bot db upgrade`)")


# --- keys ---------------------------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key. Put it first in ENCRYPTION_KEYS, keep the old ones after it, then `keys rotate`."""
    from storage.crypto import generate_key

    typer.echo(generate_key())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret under the newest key (the first in ENCRYPTION_KEYS)."""
    from storage.crypto import SecretBox
    from storage.db import create_engine, session_factory, transaction
    from storage.repos.connections import ConnectionRepo
    from storage.slack_stores import rotate_installation_secrets

    settings = settings_for("keys rotate")
    assert settings.encryption_keys is not None
    box = SecretBox(settings.encryption_keys.get_secret_value())

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                rotated = await ConnectionRepo(session).rotate_secrets(box)
                return rotated + await rotate_installation_secrets(session, box)
        finally:
            await engine.dispose()

    typer.echo(f"re-encrypted {asyncio.run(run())} stored secrets under the newest key")


# --- the parts --------------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default HOST or 0.0.0.0)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 3000)")] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Run the sync worker in this process")] = True,
) -> None:
    """Run the web app (Slack events, OAuth callbacks, webhooks), with the worker and scheduler by default."""
    from bot import processes

    settings = settings_for("serve")
    processes.serve(settings, host or settings.host, port or settings.port, with_worker=worker)


@app.command()
def worker() -> None:
    """Run a sync worker and the daily scheduler (several may share one PostgreSQL)."""
    from bot import processes

    processes.worker(settings_for("worker"))


@app.command()
def socket() -> None:
    """Run the Slack app in Socket Mode (local development without a public URL)."""
    from bot import processes

    processes.socket(settings_for("socket"))


@app.command()
def demo(
    workers: Annotated[int, typer.Option(min=8, help="Ontop workers in the generated company")] = 12,
    invoices: Annotated[int, typer.Option(min=1, help="Ontop invoices in the generated company")] = 60,
    months: Annotated[int, typer.Option(min=1, help="Months of history")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the generated company")] = 11,
    faults: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of QBO calls that fail (500/503/429)")] = 0.0,
    multicurrency: Annotated[
        bool,
        typer.Option(
            help="Multicurrency on in the QBO company, and a contractor whose supplier is in another currency"
        ),
    ] = False,
    qbo_url: Annotated[str | None, typer.Option(help="Use a QBO emulator started separately")] = None,
    ontop_url: Annotated[str | None, typer.Option(help="Use an Ontop emulator started separately")] = None,
    ontop_email: Annotated[str | None, typer.Option(help="Ontop login for --ontop-url")] = None,
    ontop_password: Annotated[str | None, typer.Option(help="Ontop password for --ontop-url")] = None,
    json_path: Annotated[str | None, typer.Option("--json", help="Write a machine-readable summary here")] = None,
    keep: Annotated[bool, typer.Option(help="Leave the emulators and the web app running afterwards")] = False,
) -> None:
    """Walk a whole workspace through connect → vendors → map → sync → fix → disconnect, offline."""
    try:
        from devtools.demo import DemoOptions, run_demo
    except ModuleNotFoundError as missing:
        _missing_dev_tools(missing)

    options = DemoOptions(
        workers=workers,
        invoices=invoices,
        months=months,
        seed=seed,
        faults=faults,
        multicurrency=multicurrency,
        qbo_url=qbo_url,
        ontop_url=ontop_url,
        ontop_email=ontop_email,
        ontop_password=ontop_password,
        json_path=json_path,
        keep=keep,
    )
    raise typer.Exit(run_demo(options, load_settings()))


@app.command()
def manifest(
    base_url: Annotated[str | None, typer.Option(help="Public https base URL (default PUBLIC_BASE_URL)")] = None,
) -> None:
    """Print the Slack app manifest (manifest.yml) with this deployment's public URL filled in."""
    from bot.manifest import render_manifest

    url = base_url or load_settings().public_base_url
    if not url:
        fail("give --base-url or set PUBLIC_BASE_URL: the manifest needs the bot's public https address")
    if not url.startswith("https://"):
        fail(f"Slack only calls https addresses; {url!r} is not one")
    typer.echo(render_manifest(url), nl=False)


@emulator_app.command("qbo")
def emulator_qbo(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8021,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    multicurrency: Annotated[bool, typer.Option(help="Turn multicurrency on in the company")] = False,
    home_currency: Annotated[
        str | None, typer.Option(help="The company's home currency (default: the country's)")
    ] = None,
    country: Annotated[str, typer.Option(help="ISO-3 country; anything but USA makes a VAT company")] = "USA",
    exchange_rate_decimals: Annotated[
        int | None, typer.Option(help="Keep only N decimals of exchange rates (QBO's precision is undocumented)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for ids and tokens")] = 0,
    client_id: Annotated[
        str | None, typer.Option(help="The OAuth client id it accepts (default emulator-client)")
    ] = None,
    client_secret: Annotated[str | None, typer.Option(help="The OAuth client secret it accepts")] = None,
    realm: Annotated[str | None, typer.Option(help="The company's realm id")] = None,
) -> None:
    """Run the QuickBooks Online emulator (OAuth, API, limits, faults; controls under /_emulator/)."""
    try:
        from emulators.qbo.app import run_qbo_emulator
        from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM
    except ModuleNotFoundError as missing:
        _missing_dev_tools(missing)

    run_qbo_emulator(
        host=host,
        port=port,
        realm_id=realm or DEFAULT_REALM,
        client_id=client_id or DEFAULT_CLIENT_ID,
        client_secret=client_secret or DEFAULT_CLIENT_SECRET,
        home_currency=home_currency.upper() if home_currency else None,
        country=country.upper(),
        exchange_rate_decimals=exchange_rate_decimals,
        multicurrency_enabled=multicurrency,
        seed=seed,
    )


@emulator_app.command("ontop")
def emulator_ontop(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8022,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=8, help="Workers in the generated company")] = 40,
    invoices: Annotated[int, typer.Option(min=1, help="Invoices in the generated company")] = 400,
    months: Annotated[int, typer.Option(min=1, help="Months of history")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the generated company")] = 7,
    admin_email: Annotated[str | None, typer.Option(help="The login it accepts (default admin@ontop.test)")] = None,
    admin_password: Annotated[str | None, typer.Option(help="The password it accepts")] = None,
    documented_only: Annotated[
        bool, typer.Option(help="Serve only Ontop's documented API (the assumed endpoints answer 404)")
    ] = False,
) -> None:
    """Run the Ontop emulator with a generated company (controls under /_emulator/)."""
    try:
        from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, run_ontop_emulator
    except ModuleNotFoundError as missing:
        _missing_dev_tools(missing)

    run_ontop_emulator(
        host=host,
        port=port,
        workers=workers,
        invoices=invoices,
        months=months,
        seed=seed,
        admin_email=admin_email or DEFAULT_ADMIN_EMAIL,
        admin_password=admin_password or DEFAULT_ADMIN_PASSWORD,
        documented_only=documented_only,
    )


def _missing_dev_tools(missing: ModuleNotFoundError) -> NoReturn:
    """The emulators and the demo are development tools, not part of a production install."""
    if (missing.name or "").split(".")[0] not in ("emulators", "devtools"):
        raise missing
    fail(
        "this command needs the development tools, which a production install does not include: from a checkout,"
        " run `make demo` (or `pip install -e ./emulators -e ./devtools`)",
        status=2,
    )


def _describe_validation(error: ValidationError) -> str:
    lines = ["some settings have invalid values:"]
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        lines.append(f"  {name}: {problem['msg']}")
    return "\n".join(lines)


def _operational_problem(exc: BaseException) -> str:
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return "DATABASE_URL is not a database URL SQLAlchemy understands (e.g. postgresql://user@host/db)"
    reason = type(exc).__name__
    original = getattr(exc, "orig", None) or exc
    if isinstance(original, OSError) and original.strerror:
        reason = original.strerror
    return f"cannot reach a service the command needs (is DATABASE_URL right and the database up?): {reason}"


def run_cli(entry: Callable[[], object]) -> None:
    """Run the typer app turning configuration problems into one clear message (never a traceback)."""
    try:
        entry()
    except MissingSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except ValidationError as exc:
        typer.echo(f"error: {_describe_validation(exc)}", err=True)
        sys.exit(1)
    except (CliError, SecretsKeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (SQLAlchemyError, OSError) as exc:
        # The database (or another service) cannot be reached or the URL is wrong: say so, without a traceback
        # and without echoing the URL (it may hold a password).
        typer.echo(f"error: {_operational_problem(exc)}", err=True)
        sys.exit(1)


def main() -> None:
    run_cli(lambda: app(standalone_mode=True))
