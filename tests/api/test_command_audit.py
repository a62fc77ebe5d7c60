"""The gateways' answers kept with their commands: the closed loop from POST /commands to the PLC and back.

Each answer here is made by the edge's own command handler from the payload the API published to moto's
IoT data plane, executed against a real OPC UA server, and handed to the ``command_audit`` entry point
the way the topic rule does (``SELECT *, topic(3) AS topic_gateway``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from api_world import COMMANDS_TABLE
from command_world import (
    GATEWAY,
    OTHER_GATEWAY,
    SITE,
    TEMPERATURE,
    CommandAws,
    Plc,
    body_of,
    command,
    command_aws,
    command_shown,
    free_port,
    gateway_answers,
    get_event,
    payload_of,
    post_event,
)

from edge.commands.handler import AUDIT_FIELDS, KIND_COMMAND_AUDIT, CommandHandler
from edge.commands.ledger import CommandLedger
from factory_constructs.api.api_handler import command_audit, entry
from factory_constructs.api.api_handler.command_store import APPLIED, PENDING, CommandStore

CONTEXT = SimpleNamespace(aws_request_id="lambda-request-1")


@pytest.fixture(scope="session")
def plc_server() -> Iterator[Plc]:
    server = Plc()
    server.start(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def plc(plc_server: Plc) -> Plc:
    """The OPC UA server (a real one on 127.0.0.1: tests using it are marked network), setpoint at 3.0."""
    plc_server.write(TEMPERATURE.node_id, 3.0)
    return plc_server


@pytest.fixture(scope="module")
def world() -> Iterator[CommandAws]:
    with command_aws() as found:
        yield found


@pytest.fixture
def aws(world: CommandAws) -> CommandAws:
    world.reset()
    return world


def send(aws: CommandAws, body: dict[str, Any]) -> tuple[str, bytes]:
    """POST the command as an engineer; its id, and the payload IoT Core carries to the gateway."""
    response = entry.commands(post_event(body), None)
    assert response["statusCode"] == 202, response["body"]
    _, message = aws.published()[-1]
    return body_of(response)["commandId"], payload_of(message)


def keep(answer: dict[str, Any]) -> str:
    return str(entry.command_audit(answer, CONTEXT)["outcome"])


def shown(command_id: str) -> dict[str, Any]:
    return command_shown(entry.commands(get_event(command_id), None))


@pytest.mark.network
def test_the_gateways_answer_settles_the_command(aws: CommandAws, plc: Plc, tmp_path: Path) -> None:
    aws.seed_latest(TEMPERATURE.path, 3.2)  # the stream's last report; the PLC itself holds 3.0
    command_id, payload = send(aws, command(6.5, reason="warmer fill for batch 42"))

    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload])

    assert plc.read(TEMPERATURE.node_id) == 6.5
    assert keep(answer) == "settled"
    view = shown(command_id)
    assert view["state"] == "applied"
    assert view["oldValue"]["value"] == 3.2  # what the site's latest-value table knew
    gateway = view["gatewayAnswer"]
    assert (gateway["result"], gateway["oldValue"], gateway["newValue"]) == ("applied", 3.0, 6.5)
    assert (gateway["nodeId"], gateway["requestedValue"]) == (TEMPERATURE.node_id, 6.5)
    assert gateway["requestedBy"] == "alice (user-sub-1)"
    assert (gateway["receivedAt"], gateway["completedAt"]) == (answer["received_at"], answer["completed_at"])
    assert gateway["reason"] == "written and verified by read-back"
    assert "laterAnswers" not in view
    (event,) = aws.bus_events()
    assert (event["source"], event["detail-type"]) == ("dmc.commands", "Command Result")
    assert event["detail"] == {
        "site": SITE.id,
        "gateway": GATEWAY,
        "command_id": command_id,
        "audit_id": answer["audit_id"],
        "path": TEMPERATURE.path,
        "requested_value": 6.5,
        "old_value": 3.0,
        "new_value": 6.5,
        "result": "applied",
        "completed_at": answer["completed_at"],
        "unsolicited": False,
    }  # who asked stays in the audit trail, off the bus
    assert "alice" not in json.dumps(event)


@pytest.mark.network
def test_a_redelivered_command_is_answered_duplicate_and_kept_after_the_first_answer(
    aws: CommandAws, plc: Plc, tmp_path: Path
) -> None:
    command_id, payload = send(aws, command(7.0))

    first, duplicate = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload, payload])

    assert (first["result"], duplicate["result"]) == ("applied", "duplicate")
    # The rule may invoke out of order: the duplicate first, then the answer that settles.
    assert keep(duplicate) == "appended"
    assert aws.record(command_id)["state"] == "sent"
    assert aws.bus_events() == []  # a duplicate settles nothing
    assert keep(first) == "settled"
    assert [event["detail"]["audit_id"] for event in aws.bus_events()] == [first["audit_id"]]
    view = shown(command_id)
    assert (view["state"], view["gatewayAnswer"]["auditId"]) == ("applied", first["audit_id"])
    assert [answer["auditId"] for answer in view["laterAnswers"]] == [duplicate["audit_id"]]


@pytest.mark.network
def test_an_answer_delivered_twice_changes_nothing(aws: CommandAws, plc: Plc, tmp_path: Path) -> None:
    command_id, payload = send(aws, command(7.0))
    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload])
    keep(answer)
    before = aws.record(command_id)

    assert keep(answer) == "repeated"
    assert aws.record(command_id) == before
    assert len(aws.bus_events()) == 1  # the first delivery's


@pytest.mark.network
def test_a_command_that_waited_past_its_expiry_is_rejected_by_the_gateway(
    aws: CommandAws, plc: Plc, tmp_path: Path
) -> None:
    command_id, payload = send(aws, command(6.0, expiresInS=60))

    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload], clock_offset_s=61)

    assert keep(answer) == "settled"
    view = shown(command_id)
    assert view["state"] == "rejected"
    assert view["gatewayAnswer"]["reason"] == (
        f"command expired at {view['expiresAt']}, before it arrived; fix: send a new command"
    )
    assert plc.read(TEMPERATURE.node_id) == 3.0


@pytest.mark.network
def test_an_answer_for_a_command_the_api_never_sent_is_kept_as_unsolicited(
    aws: CommandAws, plc: Plc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bypass = {"command_id": "console-1", "path": TEMPERATURE.path, "value": 5.5, "requested_by": "someone"}

    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [json.dumps(bypass).encode()])

    assert keep(answer) == "unsolicited"
    view = shown("console-1")
    assert (view["unsolicited"], view["state"], view["value"]) == (True, "applied", 5.5)
    assert "requestedBy" not in view
    assert view["gatewayAnswer"]["requestedBy"] == "someone"
    (event,) = aws.bus_events()
    assert (event["detail"]["command_id"], event["detail"]["unsolicited"]) == ("console-1", True)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["level"], line["outcome"]) for line in logged if line["message"] == "command answer"] == [
        ("WARNING", "unsolicited")
    ]


@pytest.mark.network
def test_an_answer_from_another_gateway_changes_nothing(aws: CommandAws, plc: Plc, tmp_path: Path) -> None:
    command_id, payload = send(aws, command(6.0, gateway=GATEWAY))
    before = aws.record(command_id)

    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload], gateway=OTHER_GATEWAY)

    assert answer["topic_gateway"] == OTHER_GATEWAY
    assert keep(answer) == "wrong-gateway"
    assert aws.record(command_id) == before


@pytest.mark.network
@pytest.mark.parametrize(
    "payload",
    [
        b'{"command_id": "c-9", "value": 7',  # not JSON: the gateway echoes no command id
        b'{"command_id": "no spaces", "path": "x", "value": 7, "requested_by": "someone"}',  # an id it refuses
    ],
)
def test_an_answer_to_an_unreadable_command_names_no_command(
    aws: CommandAws, plc: Plc, tmp_path: Path, payload: bytes
) -> None:
    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload])

    assert answer["result"] == "rejected"
    assert keep(answer) == "no-command-id"
    assert aws.records() == []


@pytest.mark.network
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"topic_gateway": "plantB-gw-01"},
            "topic_gateway 'plantB-gw-01' is not one of the site's gateways plantA-gw-01, plantA-gw-02; fix: select it "
            "in the topic rule (SELECT *, topic(3) AS topic_gateway FROM 'dmc/plantA/+/commands/audit') and list the "
            "gateway in the site file",
        ),
        (
            {"kind": "tags"},
            "kind 'tags' version 1 is not a command_audit record version 1; fix: route only the gateways' "
            "commands/audit topics here",
        ),
        ({"result": "done"}, "result 'done' is not one of applied, rejected, failed, duplicate"),
        ({"site": "plantB"}, "site 'plantB' is not 'plantA'; fix: check the gateway's site_id"),
        ({"audit_id": ""}, "audit_id '' is not an id; fix: send the edge's audit record"),
        (
            {"completed_at": "yesterday"},
            "completed_at: timestamp 'yesterday' is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z",
        ),
    ],
)
def test_an_answer_that_cannot_be_read_is_refused_and_logged(
    aws: CommandAws,
    plc: Plc,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    problem: str,
) -> None:
    command_id, payload = send(aws, command(6.0))
    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload])
    before = aws.record(command_id)
    capsys.readouterr()

    outcome = entry.command_audit({**answer, **change}, CONTEXT)

    assert (outcome["outcome"], outcome["problems"]) == ("refused", [problem])
    assert aws.record(command_id) == before
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["level"], line["request_id"], line["problems"]) == ("ERROR", "lambda-request-1", [problem])
    assert line["record"] == {**answer, **change}  # the whole answer is in the log


@pytest.mark.network
def test_a_table_failure_raises_so_lambda_retries(
    aws: CommandAws, plc: Plc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command_id, payload = send(aws, command(6.0))
    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload])
    monkeypatch.setenv("COMMANDS_TABLE", "no-such-table")
    entry.settings.cache_clear()
    try:
        with pytest.raises(aws.dynamodb.exceptions.ResourceNotFoundException):
            entry.command_audit(answer, CONTEXT)
    finally:
        entry.settings.cache_clear()
    assert aws.record(command_id)["state"] == "sent"


@pytest.mark.network
def test_a_failed_put_keeps_the_recorded_result_and_raises_so_the_retry_publishes_it(
    aws: CommandAws, plc: Plc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command_id, payload = send(aws, command(6.0))
    (answer,) = gateway_answers(plc, tmp_path / "ledger.jsonl", [payload])
    capsys.readouterr()
    monkeypatch.setenv("EVENT_BUS", "no-such-bus")
    entry.settings.cache_clear()
    try:
        with pytest.raises(command_audit.ResultNotPublished, match=f"^command {command_id}'s result is recorded"):
            entry.command_audit(answer, CONTEXT)
    finally:
        monkeypatch.undo()
        entry.settings.cache_clear()
    recorded = aws.record(command_id)
    assert (recorded["state"], recorded["audit"]["audit_id"]) == ("applied", answer["audit_id"])
    assert "result_published_at" not in recorded
    assert aws.bus_events() == []
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["message"], line["level"], line["outcome"], line["command_id"]) == (
        "command result not published",
        "ERROR",
        "settled",
        command_id,
    )

    retried = entry.command_audit(answer, CONTEXT)  # Lambda's retry of the same invoke

    assert (retried["outcome"], retried["published"]) == ("repeated", True)
    assert [event["detail"]["audit_id"] for event in aws.bus_events()] == [answer["audit_id"]]
    after = aws.record(command_id)
    assert {key: value for key, value in after.items() if key != "result_published_at"} == recorded
    assert keep(answer) == "repeated"  # a later redelivery publishes nothing more
    assert aws.bus_events() == []


def test_an_answer_before_the_publish_is_confirmed_stands(aws: CommandAws) -> None:
    """The gateway can answer before the API records ``sent``: the answer wins, the late ``sent`` is dropped."""
    store = CommandStore(aws.dynamodb, COMMANDS_TABLE)
    store.create(
        {"command_id": "c-race", "gateway": GATEWAY, "state": PENDING, "updated_at": "2027-01-15T08:00:00.000Z"}
    )
    answer = {"audit_id": "a-1", "command_id": "c-race", "result": APPLIED, "received_at": "2027-01-15T08:00:00.100Z"}

    assert store.record_answer(answer, gateway=GATEWAY, now="2027-01-15T08:00:00.200Z") == "settled"
    assert store.mark_sent("c-race", now="2027-01-15T08:00:00.300Z") is False
    assert store.mark_failed("c-race", "timed out", now="2027-01-15T08:00:00.300Z") is False
    assert aws.record("c-race")["state"] == "applied"


def test_the_answer_fields_are_the_edge_handlers() -> None:
    assert command_audit.KIND_COMMAND_AUDIT == KIND_COMMAND_AUDIT
    assert set(command_audit.ANSWER_FIELDS) <= set(AUDIT_FIELDS)
    assert set(AUDIT_FIELDS) - set(command_audit.ANSWER_FIELDS) == {"v", "kind", "site"}  # checked, not kept


def test_the_rule_selects_the_edge_handlers_audit_topic_and_its_gateway_level(tmp_path: Path) -> None:
    handler = CommandHandler(
        site=SITE.id,
        gateway=GATEWAY,
        setpoints=[],
        client=None,  # type: ignore[arg-type]  # naming its topics needs no OPC UA connection
        publisher=None,  # type: ignore[arg-type]
        ledger=CommandLedger(tmp_path / "ledger.jsonl"),
    )
    statement = command_audit.rule_sql(SITE.id)

    assert statement == "SELECT *, topic(3) AS topic_gateway FROM 'dmc/plantA/+/commands/audit'"
    topic_filter = statement.split("'")[1].split("/")
    levels = handler.audit_topic.split("/")
    assert len(levels) == len(topic_filter)
    assert all(wanted in ("+", level) for wanted, level in zip(topic_filter, levels, strict=True))
    assert levels[3 - 1] == GATEWAY  # IoT's topic(3): levels count from 1
