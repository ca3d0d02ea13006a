"""The Slack load process sends what Slack would: signed commands and suggestions, as many as planned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.load_client import LoadPlan, Round, run_plan
from devtools.server import BackgroundServer
from devtools.signing import SlackActor

SECRET = "bench-test-signing-secret"


class Recorder:
    def __init__(self) -> None:
        self.commands: list[dict[str, list[str]]] = []
        self.suggestions: list[dict[str, object]] = []
        self.unsigned = 0


@pytest.fixture
def slack_app() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    verifier = SignatureVerifier(SECRET)

    async def events(request: Request) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            recorder.unsigned += 1
            return Response(status_code=401)
        form = parse_qs(body.decode())
        if "payload" in form:
            recorder.suggestions.append(json.loads(form["payload"][0]))
            return JSONResponse({"options": []})
        recorder.commands.append(form)
        return JSONResponse({"text": "help"})

    with BackgroundServer(Starlette(routes=[Route("/slack/events", events, methods=["POST"])])) as server:
        yield server.url, recorder


async def test_every_request_is_signed_and_each_round_sends_its_count(slack_app: tuple[str, Recorder]) -> None:
    url, recorder = slack_app
    view = {"id": "V1", "type": "modal", "blocks": [], "callback_id": "mapping-submit"}
    plan = LoadPlan(
        app_url=url,
        signing_secret=SECRET,
        actor=asdict(SlackActor(team_id="T0001", user_id="U0ANN")),
        channel_id="C0FIN",
        channel_name="finance",
        rounds=[
            Round("command", 7, "help"),
            Round("suggestion", 5, "Contr", view, "concept:BONUS", "mapping-account"),
            Round("command", 3, "help", sequential=True),
        ],
        throughput_seconds=0.3,
        throughput_concurrency=2,
    )
    answer = await run_plan(plan)
    assert [len(times) for times in answer.rounds] == [7, 5, 3]
    assert all(ms > 0 for times in answer.rounds for ms in times)
    assert recorder.unsigned == 0
    assert answer.throughput_requests > 0
    assert len(recorder.commands) == 7 + 3 + answer.throughput_requests
    assert {form["text"][0] for form in recorder.commands} == {"help"}
    assert len({form["trigger_id"][0] for form in recorder.commands}) == len(recorder.commands)
    assert [(s["type"], s["value"], s["block_id"]) for s in recorder.suggestions] == [
        ("block_suggestion", "Contr", "concept:BONUS")
    ] * 5
