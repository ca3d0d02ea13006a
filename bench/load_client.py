"""The Slack side of the load tests in its own process, so the app's ack times never include the sender's CPU.

The parent writes a JSON plan on stdin (the app's URL, the signing secret, who is typing, and the rounds) and reads
one JSON line back: every round's round-trip times in ms, and the closed-loop throughput.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devtools.signing import (
    FORM_CONTENT_TYPE,
    SlackActor,
    block_suggestion_payload,
    interactive_body,
    sign_request,
    slash_command_body,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Round:
    """`count` requests sent at once (or one after the other when `sequential`): "command" (`/qbo <text>`) or
    "suggestion" (typing `text` in an external select of `view`)."""

    kind: str
    count: int
    text: str
    view: dict[str, Any] | None = None
    block_id: str = ""
    action_id: str = ""
    sequential: bool = False


@dataclass(frozen=True)
class LoadPlan:
    app_url: str
    signing_secret: str = field(repr=False)
    actor: dict[str, Any]
    channel_id: str
    channel_name: str
    rounds: list[Round]
    throughput_seconds: float = 0.0
    throughput_concurrency: int = 8


@dataclass(frozen=True)
class LoadAnswer:
    rounds: list[list[float]]
    throughput_requests: int
    throughput_seconds: float


def _body(plan: LoadPlan, actor: SlackActor, round_: Round) -> bytes:
    if round_.kind == "command":
        return slash_command_body(
            actor,
            text=round_.text,
            channel_id=plan.channel_id,
            channel_name=plan.channel_name,
            trigger_id=f"{time.time():.0f}.{uuid.uuid4().hex[:12]}",
            response_url=f"{plan.app_url}/unused-response-url",  # `/qbo help` answers in its ack
        )
    assert round_.view is not None
    payload = block_suggestion_payload(
        actor, action_id=round_.action_id, block_id=round_.block_id, value=round_.text, view=round_.view
    )
    return interactive_body(payload)


async def _send(http: httpx.AsyncClient, plan: LoadPlan, actor: SlackActor, round_: Round) -> float:
    # Build and sign before the clock starts: the figure is the app's answer time, not the sender's.
    body = _body(plan, actor, round_)
    headers = {"Content-Type": FORM_CONTENT_TYPE, **sign_request(plan.signing_secret, body)}
    started = time.perf_counter()
    answer = await http.post("/slack/events", content=body, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")
    return elapsed


async def run_plan(plan: LoadPlan) -> LoadAnswer:
    actor = SlackActor(**plan.actor)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=plan.app_url, timeout=30, limits=limits) as http:
        timings: list[list[float]] = []
        for round_ in plan.rounds:
            if round_.sequential:
                timings.append([await _send(http, plan, actor, round_) for _ in range(round_.count)])
            else:
                sends = (_send(http, plan, actor, round_) for _ in range(round_.count))
                timings.append(list(await asyncio.gather(*sends)))
        answered = 0
        started = time.monotonic()
        if plan.throughput_seconds > 0:
            deadline = started + plan.throughput_seconds
            help_round = Round("command", 1, "help")

            async def sender() -> None:
                nonlocal answered
                while time.monotonic() < deadline:
                    await _send(http, plan, actor, help_round)
                    answered += 1

            await asyncio.gather(*(sender() for _ in range(plan.throughput_concurrency)))
        return LoadAnswer(timings, answered, time.monotonic() - started)


def run_in_child(plan: LoadPlan, timeout_seconds: float = 120) -> LoadAnswer:
    """Run the plan in a fresh interpreter (its own GIL and CPU) and read back the timings."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_client"],
        input=json.dumps(asdict(plan)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load client failed ({done.returncode}): {done.stderr[-2000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return LoadAnswer(answer["rounds"], answer["throughput_requests"], answer["throughput_seconds"])


def main() -> None:
    raw = json.loads(sys.stdin.read())
    raw["rounds"] = [Round(**round_) for round_ in raw["rounds"]]
    answer = asyncio.run(run_plan(LoadPlan(**raw)))
    print(json.dumps(asdict(answer)))


if __name__ == "__main__":
    main()
