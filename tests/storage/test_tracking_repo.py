"""Class and location tracking storage, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.records import TrackingOptionRecord, WorkerTrackingRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.mappings import MappingRepo
from storage.repos.tracking import TrackingRepo
from storage.repos.workspaces import WorkspaceRepo

Sessions = async_sessionmaker[AsyncSession]


async def _connection(sessions: Sessions) -> int:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1", team_name="Acme")
        return (await ConnectionRepo(session).create(workspace.id, "123")).id


async def test_cached_classes_are_replaced_and_listed_active_by_full_name(sessions: Sessions) -> None:
    connection_id = await _connection(sessions)
    async with transaction(sessions) as session:
        repo = TrackingRepo(session)
        await repo.replace(connection_id, "class", [TrackingOptionRecord("1", "Old", "Old")])
        await repo.replace(
            connection_id,
            "class",
            [
                TrackingOptionRecord("7", "Platform", "Engineering:Platform"),
                TrackingOptionRecord("6", "Engineering", "Engineering"),
                TrackingOptionRecord("8", "Closed", "Closed", active=False),
            ],
        )
        await repo.replace(connection_id, "location", [TrackingOptionRecord("9", "Europe", "Europe")])
    async with sessions() as session:
        repo = TrackingRepo(session)
        names = [option.fully_qualified_name for option in await repo.list_active(connection_id, "class")]
        assert names == ["Engineering", "Engineering:Platform"]
        assert [option.qbo_id for option in await repo.list_active(connection_id, "class", "plat")] == ["7"]
        assert [option.name for option in await repo.list_active(connection_id, "location")] == ["Europe"]


async def test_tracking_flags_land_on_the_connection(sessions: Sessions) -> None:
    connection_id = await _connection(sessions)
    async with transaction(sessions) as session:
        await TrackingRepo(session).save_flags(connection_id, class_tracking=True, track_departments=False)
    async with sessions() as session:
        connection = await ConnectionRepo(session).get(connection_id)
    assert connection is not None and (connection.class_tracking, connection.track_departments) == (True, False)


async def test_a_worker_has_one_class_and_location_and_clearing_both_forgets_them(sessions: Sessions) -> None:
    connection_id = await _connection(sessions)
    async with transaction(sessions) as session:
        repo = TrackingRepo(session)
        await repo.save_worker(connection_id, WorkerTrackingRecord("A-1", "6", "Engineering"), "U1")
        await repo.save_worker(connection_id, WorkerTrackingRecord("A-1", "7", "Platform", "9", "Europe"), "U1")
        await repo.save_worker(connection_id, WorkerTrackingRecord("A-2", "6", "Engineering"), "U1")
    async with transaction(sessions) as session:
        repo = TrackingRepo(session)
        assert await repo.get_workers(connection_id) == {
            "A-1": WorkerTrackingRecord("A-1", "7", "Platform", "9", "Europe"),
            "A-2": WorkerTrackingRecord("A-2", "6", "Engineering"),
        }
        await repo.save_worker(connection_id, WorkerTrackingRecord("A-2"), "U1")
    async with sessions() as session:
        assert set(await TrackingRepo(session).get_workers(connection_id)) == {"A-1"}


async def test_a_concept_class_rides_on_its_mapping(sessions: Sessions) -> None:
    connection_id = await _connection(sessions)
    async with transaction(sessions) as session:
        await MappingRepo(session).save(connection_id, "BONUS", "55", "Bonuses", "U1")
        repo = TrackingRepo(session)
        assert await repo.save_concept_class(connection_id, "BONUS", "6", "Engineering") is True
        assert await repo.save_concept_class(connection_id, "COMMISSION", "6", "Engineering") is False
    async with sessions() as session:
        mapping = (await MappingRepo(session).get_all(connection_id))["BONUS"]
    assert (mapping.class_id, mapping.class_name, mapping.qbo_account_id) == ("6", "Engineering", "55")
