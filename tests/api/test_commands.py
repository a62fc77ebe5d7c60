"""POST /commands and GET /commands/{commandId} through the Lambda entry point, against moto.

What a gateway receives is checked with the edge's own parser (``CommandRequest``), and what is
refused must leave no trace: nothing published, nothing recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from api_events import IAM_ARN
from api_world import COMMANDS_TABLE
from botocore.stub import Stubber
from command_world import (
    GATEWAY,
    OTHER_GATEWAY,
    SITE,
    SPEED,
    TEMPERATURE,
    CommandAws,
    body_of,
    claims,
    command,
    command_aws,
    command_shown,
    get_event,
    post_event,
)

from edge.commands.handler import CommandRequest
from envelope.tag_envelope import parse_timestamp, topic
from factory_constructs.api.api_handler import entry
from factory_constructs.api.api_handler.command_store import STATES, CommandStore
from factory_constructs.api.api_handler.contract import load_contract


@pytest.fixture(scope="module")
def world() -> Iterator[CommandAws]:
    with command_aws() as found:
        yield found


@pytest.fixture
def aws(world: CommandAws) -> CommandAws:
    world.reset()
    return world


SUB, USERNAME = "user-sub-1", "alice"  # the Cognito caller api_event builds


def post(
    body: Any, *, groups: tuple[str, ...] = ("engineer",), iam: bool = False, key: str | None = None
) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key is not None else None
    return entry.commands(post_event(body, groups=groups, iam=iam, headers=headers), None)


def refused_without_trace(response: dict[str, Any], aws: CommandAws, status: int, field: str | None) -> str:
    """The Problem's detail, after checking the status, the field and that nothing was sent or recorded."""
    problem = body_of(response)
    assert (response["statusCode"], problem["status"], problem.get("field")) == (status, status, field)
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert aws.published() == []
    assert aws.records() == []
    return str(problem["detail"])


def test_a_setpoint_is_recorded_then_published_in_the_edge_handlers_format(aws: CommandAws) -> None:
    aws.seed_latest(TEMPERATURE.path, 4.0)

    response = post(command(6.5, reason="batch 42 needs a warmer fill"))

    assert response["statusCode"] == 202
    answer = command_shown(response)
    command_id = answer["commandId"]
    assert response["headers"]["Location"] == f"commands/{command_id}"
    assert answer["state"] == "sent"
    assert (answer["gateway"], answer["path"], answer["value"], answer["reason"]) == (
        GATEWAY,
        TEMPERATURE.path,
        6.5,
        "batch 42 needs a warmer fill",
    )
    assert answer["requestedBy"] == {"kind": "cognito", "id": SUB, "username": USERNAME}
    assert (answer["oldValue"]["value"], answer["oldValue"]["sourceTs"]) == (4.0, "2027-01-15T08:00:00.000Z")
    lifetime = parse_timestamp(answer["expiresAt"]) - parse_timestamp(answer["requestedAt"])
    assert lifetime.total_seconds() == 300

    ((sent_topic, payload),) = aws.published()
    assert sent_topic == topic(SITE.id, GATEWAY, "commands") == f"dmc/plantA/{GATEWAY}/commands"
    request = CommandRequest.model_validate(payload)  # the edge handler's own parser accepts it
    assert (request.command_id, request.path, request.value) == (command_id, TEMPERATURE.path, 6.5)
    assert request.requested_by == f"{USERNAME} ({SUB})"
    assert (request.requested_at, request.expires_at) == (answer["requestedAt"], answer["expiresAt"])

    record = aws.record(command_id)
    assert record is not None
    assert record["who"] == {"kind": "cognito", "id": SUB, "username": USERNAME, "groups": ["engineer"]}
    assert (record["state"], record["requested"], record["old"]["value"]) == ("sent", 6.5, 4.0)
    assert record["reason"] == "batch 42 needs a warmer fill"


def test_an_iam_caller_is_recorded_by_its_arn_and_an_unseen_tag_has_no_old_value(aws: CommandAws) -> None:
    response = post(command(60, path=SPEED.path, gateway=OTHER_GATEWAY), iam=True)

    answer = command_shown(response)
    assert answer["requestedBy"] == {"kind": "iam", "id": IAM_ARN}
    assert "oldValue" not in answer
    ((sent_topic, payload),) = aws.published()
    assert sent_topic == f"dmc/plantA/{OTHER_GATEWAY}/commands"
    assert CommandRequest.model_validate(payload).requested_by == IAM_ARN
    assert aws.record(answer["commandId"])["who"] == {"kind": "iam", "id": IAM_ARN, "groups": []}


def test_the_range_is_inclusive(aws: CommandAws) -> None:
    assert post(command(TEMPERATURE.min))["statusCode"] == 202
    assert post(command(TEMPERATURE.max))["statusCode"] == 202
    assert [payload["value"] for _, payload in aws.published()] == [TEMPERATURE.min, TEMPERATURE.max]


@pytest.mark.parametrize("value", [TEMPERATURE.min - 0.5, TEMPERATURE.max + 0.001])
def test_a_setpoint_out_of_range_is_refused(aws: CommandAws, value: float) -> None:
    detail = refused_without_trace(post(command(value)), aws, 400, "value")

    assert detail == (
        f"value {value} is outside the allowed range 2..8 of {TEMPERATURE.path}; fix: send a value within the range"
    )


def test_a_path_outside_the_allow_list_is_refused(aws: CommandAws) -> None:
    valve = "acme/plantA/filling/line1/filler/valve"

    detail = refused_without_trace(post(command(1, path=valve)), aws, 400, "path")

    assert detail == (
        f"path {valve} is not on site plantA's setpoint allow-list; fix: use one of {SPEED.path}, {TEMPERATURE.path}, "
        "or add it to edge.commands.setpoints in the site file"
    )


def test_an_unknown_gateway_is_refused(aws: CommandAws) -> None:
    detail = refused_without_trace(post(command(5, gateway="plantB-gw-01")), aws, 400, "gateway")

    assert detail == (
        f"gateway 'plantB-gw-01' is not one of site plantA's gateways; fix: use one of {GATEWAY}, {OTHER_GATEWAY}"
    )


@pytest.mark.parametrize("groups", [("operator",), ("analyst",), ("operator", "analyst")])
def test_only_engineers_may_send(aws: CommandAws, groups: tuple[str, ...]) -> None:
    detail = refused_without_trace(post(command(5), groups=groups), aws, 403, None)

    assert detail.startswith("POST /commands is for the group(s) engineer; the caller is in ")


def test_the_document_gives_commands_to_engineers_only() -> None:
    paths = load_contract()["paths"]

    assert paths["/commands"]["post"]["x-dmc-groups"] == ["engineer"]
    assert paths["/commands/{commandId}"]["get"]["x-dmc-groups"] == ["operator", "engineer", "analyst"]
    assert load_contract()["components"]["schemas"]["CommandState"]["enum"] == list(STATES)


@pytest.mark.parametrize("missing", ["gateway", "path", "value"])
def test_a_missing_field_is_named(aws: CommandAws, missing: str) -> None:
    body = command(5)
    del body[missing]

    assert refused_without_trace(post(body), aws, 400, missing) == f"{missing}: is missing; fix: give it"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (command("5"), "value"),  # a string is not a setpoint, even a numeric one
        (command(True), "value"),
        (command(5, expiresInS=5), "expiresInS"),
        (command(5, reason=""), "reason"),
        (command(5, priority="high"), "body"),
        ("not json", "body"),
    ],
)
def test_a_malformed_body_is_refused(aws: CommandAws, body: Any, field: str) -> None:
    refused_without_trace(post(body), aws, 400, field)


def test_a_retry_with_the_same_idempotency_key_is_not_sent_twice(aws: CommandAws) -> None:
    first = post(command(5), key="6f0c1b9e-retry")
    # The structured-field form of the same key, under a lower-case name (header names are case-insensitive).
    again = entry.commands(post_event(command(5), headers={"idempotency-key": '"6f0c1b9e-retry"'}), None)

    assert (first["statusCode"], again["statusCode"]) == (202, 202)
    assert body_of(again)["commandId"] == body_of(first)["commandId"]
    assert len(aws.published()) == 1
    assert len(aws.records()) == 1


def test_the_same_key_from_another_caller_is_another_command(aws: CommandAws) -> None:
    mine = body_of(post(command(5), key="k-1"))
    event = post_event(command(5), headers={"Idempotency-Key": "k-1"})
    claims(event)["sub"] = "user-sub-2"
    theirs = body_of(entry.commands(event, None))

    assert mine["commandId"] != theirs["commandId"]
    assert len(aws.published()) == 2


def test_a_key_reused_for_another_command_is_refused(aws: CommandAws) -> None:
    command_id = body_of(post(command(5), key="k-2"))["commandId"]

    response = post(command(6), key="k-2")

    problem = body_of(response)
    assert (response["statusCode"], problem["field"]) == (422, "Idempotency-Key")
    assert problem["detail"] == (
        f"Idempotency-Key 'k-2' was used for command {command_id} with another requested; "
        "fix: use a new key for a new command"
    )
    assert len(aws.published()) == 1


def test_a_malformed_idempotency_key_is_refused(aws: CommandAws) -> None:
    refused_without_trace(post(command(5), key="no spaces please"), aws, 400, "Idempotency-Key")


def fail_publishes(code: str, status: int) -> Stubber:
    """Makes the entry point's IoT data client fail its next publish with ``code``."""
    stubber = Stubber(entry.aws_client("iot-data"))
    stubber.add_client_error("publish", service_error_code=code, http_status_code=status)
    stubber.activate()
    return stubber


def test_an_unavailable_iot_core_is_a_503_and_the_record_says_failed(aws: CommandAws) -> None:
    stubber = fail_publishes("ServiceUnavailableException", 503)

    response = post(command(5), key="k-3")

    stubber.deactivate()
    problem = body_of(response)
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "5")
    assert problem["detail"] == (
        "IoT Core did not take the command (ServiceUnavailableException); it was not sent; "
        "fix: retry with the same Idempotency-Key (it is not sent twice)"
    )
    (record,) = aws.records()
    assert record["state"] == "failed"
    assert record["state_reason"].startswith(f"publish to dmc/plantA/{GATEWAY}/commands failed: ")

    retried = post(command(5), key="k-3")  # IoT Core is back

    assert (retried["statusCode"], body_of(retried)["state"]) == (202, "sent")
    assert "stateReason" not in body_of(retried)
    assert len(aws.published()) == 1


def test_a_publish_iot_core_refuses_is_a_502(aws: CommandAws) -> None:
    stubber = fail_publishes("ForbiddenException", 403)

    response = post(command(5))

    stubber.deactivate()
    assert response["statusCode"] == 502
    assert body_of(response)["detail"].startswith("IoT Core did not take the command (ForbiddenException)")
    assert [record["state"] for record in aws.records()] == ["failed"]


def test_a_publish_that_times_out_after_the_gateway_answered_is_accepted(aws: CommandAws) -> None:
    """IoT Core delivered the command, the gateway answered, and only then did the publish call fail."""
    store = CommandStore(aws.dynamodb, COMMANDS_TABLE)

    def gateway_answers_then_the_call_fails(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        command_id = json.loads(params["body"])["command_id"]
        answer = {
            "audit_id": "a-1",
            "command_id": command_id,
            "result": "applied",
            "new_value": 5.0,
            "received_at": "2027-01-15T08:00:00.000Z",
            "completed_at": "2027-01-15T08:00:00.040Z",
        }
        assert store.record_answer(answer, gateway=GATEWAY, now="2027-01-15T08:00:00.000Z") == "settled"
        error = {"Error": {"Code": "RequestTimeout", "Message": "no answer in time"}, "ResponseMetadata": {}}
        return SimpleNamespace(status_code=408, headers={}), error

    events = entry.aws_client("iot-data").meta.events
    events.register("before-call.iot-data.Publish", gateway_answers_then_the_call_fails)
    try:
        response = post(command(5))
    finally:
        events.unregister("before-call.iot-data.Publish", gateway_answers_then_the_call_fails)

    answer = command_shown(response)
    assert (answer["state"], answer["gatewayAnswer"]["newValue"]) == ("applied", 5.0)
    assert "stateReason" not in answer


def test_nothing_is_published_that_could_not_be_recorded(aws: CommandAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMANDS_TABLE", "no-such-table")
    entry.settings.cache_clear()
    try:
        response = post(command(5))
    finally:
        entry.settings.cache_clear()

    assert (response["statusCode"], body_of(response)["title"]) == (500, "Internal error")
    assert aws.published() == []


def test_get_answers_the_record(aws: CommandAws) -> None:
    posted = body_of(post(command(5, reason="trial")))

    response = entry.commands(get_event(posted["commandId"]), None)

    assert command_shown(response) == posted


def test_get_of_an_unknown_command_is_404(aws: CommandAws) -> None:
    response = entry.commands(get_event("0123456789abcdef0123456789abcdef"), None)

    problem = body_of(response)
    assert (response["statusCode"], problem["field"]) == (404, "commandId")
    assert problem["detail"] == (
        "command 0123456789abcdef0123456789abcdef is not in site plantA's record; "
        "fix: use the commandId POST /commands answered"
    )


def test_get_of_a_malformed_id_is_400(aws: CommandAws) -> None:
    response = entry.commands(get_event("no/such id"), None)

    assert (response["statusCode"], body_of(response)["field"]) == (400, "commandId")
