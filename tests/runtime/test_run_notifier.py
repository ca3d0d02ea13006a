"""What the worker tells Slack when a run ends, including a reconnect reminder before QBO access runs out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.runtime import Runtime, SlackRunNotifier, build_runtime
from storage import migrate
from storage.crypto import generate_key
from storage.db import transaction
from storage.models import Connection, ConnectionStatus, RunStatus, SyncRun
from storage.repos.workspaces import WorkspaceRepo
from sync.api import RunSummary, TeamRef


class RecordingSlack:
    """Stands in for handlers.notify.SlackNotifier: records what would be posted."""

    def __init__(self) -> None:
        self.summaries: list[RunSummary] = []
        self.reauth: list[tuple[TeamRef, str, str | None]] = []

    async def run_finished(self, team: TeamRef, summary: RunSummary, ref: Any) -> None:
        self.summaries.append(summary)

    async def needs_reauth(self, team: TeamRef, *, company_name: str, reason: str | None = None) -> None:
        self.reauth.append((team, company_name, reason))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
        encryption_keys=generate_key(),
        ontop_api_base_url="http://127.0.0.1:9",
    )
    built = build_runtime(settings)
    await migrate.upgrade(built.engine)
    yield built
    await built.aclose()


async def _finished_run(runtime: Runtime, authorization_ends_in: timedelta) -> int:
    async with transaction(runtime.sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1")
        connection = Connection(
            workspace_id=workspace.id,
            realm_id="123",
            company_name="Northwind",
            status=ConnectionStatus.ACTIVE,
            refresh_expires_at=datetime.now(UTC) + authorization_ends_in,
        )
        session.add(connection)
        await session.flush()
        run = SyncRun(connection_id=connection.id, trigger="manual", status=RunStatus.SUCCEEDED)
        session.add(run)
        await session.flush()
        return run.id


async def test_a_run_summary_is_posted_and_a_reconnect_is_asked_for_in_the_last_30_days(runtime: Runtime) -> None:
    slack = RecordingSlack()
    run_id = await _finished_run(runtime, timedelta(days=12))

    await SlackRunNotifier(runtime, slack).run_finished(run_id, None)

    assert [summary.run_id for summary in slack.summaries] == [run_id]
    [(team, company, reason)] = slack.reauth
    assert team.team_id == "T1" and company == "Northwind" and "reconnect" in (reason or "")


async def test_no_reminder_while_the_authorization_has_time_left(runtime: Runtime) -> None:
    slack = RecordingSlack()
    run_id = await _finished_run(runtime, timedelta(days=90))

    await SlackRunNotifier(runtime, slack).run_finished(run_id, None)

    assert len(slack.summaries) == 1 and slack.reauth == []
