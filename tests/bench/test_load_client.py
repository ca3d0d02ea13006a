"""The Slack load process sends what Slack would: signed commands, suggestions and clicks, as many as planned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.load_client import LoadPlan, Round, Throughput, run_plan
from devtools.server import BackgroundServer
from devtools.signing import SlackActor

SECRET = "bench-test-signing-secret"


class Recorder:
    def __init__(self) -> None:
        self.commands: list[dict[str, list[str]]] = []
        self.suggestions: list[dict[str, object]] = []
        self.clicks: list[dict[str, object]] = []
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
            payload = json.loads(form["payload"][0])
            if payload["type"] == "block_actions":
                recorder.clicks.append(payload)
                return Response(status_code=200)  # an empty ack, as Bolt gives
            recorder.suggestions.append(payload)
            return JSONResponse({"options": []})
        recorder.commands.append(form)
        if form["text"][0] == "status" and "/reply/" in form["response_url"][0]:
            async with httpx.AsyncClient() as http:  # answered through the response_url, as the bot does
                await http.post(form["response_url"][0], json={"text": "status"})
        return JSONResponse({"text": "help"})

    with BackgroundServer(Starlette(routes=[Route("/slack/events", events, methods=["POST"])])) as server:
        yield server.url, recorder


async def test_every_request_is_signed_and_each_round_sends_its_count(slack_app: tuple[str, Recorder]) -> None:
    url, recorder = slack_app
    view = {"id": "V1", "type": "modal", "blocks": [], "callback_id": "mapping-submit"}
    home = {"id": "V2", "type": "home", "blocks": []}
    urls = [f"{url}/response/{index}" for index in range(3)]
    plan = LoadPlan(
        app_url=url,
        signing_secret=SECRET,
        actor=asdict(SlackActor(team_id="T0001", user_id="U0ANN")),
        channel_id="C0FIN",
        channel_name="finance",
        rounds=[
            Round("command", 7, "help"),
            Round("suggestion", 5, "Contr", view, "concept:BONUS", "mapping-account"),
            Round("command", 3, "status", sequential=True, trigger_ids=["1.2.a", "1.2.b", "1.2.c"], response_urls=urls),
            Round("button", 4, "", home, "home-actions", "home-map", trigger_ids=["9.9.a"]),
        ],
        throughputs=[
            Throughput("help", 0.3, concurrency=2),
            Throughput("status", 0.2, concurrency=1, until_reply=True),
        ],
    )
    answer = await run_plan(plan)
    assert [len(times) for times in answer.rounds] == [7, 5, 3, 4]
    assert all(ms > 0 for times in answer.rounds for ms in times)
    assert len(answer.started_at) == 4
    assert recorder.unsigned == 0
    help_phase, status_phase = answer.throughputs
    assert help_phase.requests > 0 and status_phase.requests > 0
    assert len(recorder.commands) == 7 + 3 + help_phase.requests + status_phase.requests
    texts = [form["text"][0] for form in recorder.commands]
    assert texts.count("status") == 3 + status_phase.requests
    assert len({form["trigger_id"][0] for form in recorder.commands}) == len(recorder.commands)
    # The minted trigger_ids and response_urls go out as given, one per request.
    status_commands = [form for form in recorder.commands if form["text"][0] == "status"][:3]
    assert [form["response_url"][0] for form in status_commands] == urls
    assert [form["trigger_id"][0] for form in status_commands] == ["1.2.a", "1.2.b", "1.2.c"]
    assert [(s["type"], s["value"], s["block_id"]) for s in recorder.suggestions] == [
        ("block_suggestion", "Contr", "concept:BONUS")
    ] * 5
    assert [click["actions"][0]["action_id"] for click in recorder.clicks] == ["home-map"] * 4  # type: ignore[index]
    assert recorder.clicks[0]["trigger_id"] == "9.9.a"
