"""The audit trail: who did what, when (connect, map, create vendors, sync, disconnect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def record(
        self, workspace_id: int, actor: str, action: str, connection_id: int | None = None, **detail: Any
    ) -> None:
        self._session.add(
            AuditEvent(
                workspace_id=workspace_id, connection_id=connection_id, actor=actor, action=action, detail=detail
            )
        )
