"""Setpoint commands: ``POST /commands`` checks, records and publishes one; ``GET /commands/{commandId}`` reads it.

A command is checked before anything is sent or recorded: the gateway is one of the site's
(``GATEWAYS``), the tag path is on the site's allow-list and the value within its inclusive range
(``COMMAND_ALLOW_LIST``, from the site file's ``edge.commands.setpoints``, the list every gateway's
command handler enforces again). Only the ``engineer`` group may send (the document's ``x-dmc-groups``;
IAM callers by their IAM policy). Then, in this order:

1. the command is recorded in the commands table, state ``pending``, with who asked (Cognito ``sub``
   and user name, or the IAM ARN: 21 CFR 11.10(e), Annex 11 §12.4), what, why (``reason``), when, and
   the value the latest-value table held (``oldValue``, when it knows the tag);
2. it is published to the gateway's command topic with QoS 1, in the payload the edge command handler
   parses (``edge/commands/handler.py``: ``CommandRequest``), with an expiry (``expiresInS``), so a
   command that waited in IoT Core for an offline gateway is refused rather than applied late;
3. the record becomes ``sent``, or ``failed`` with the reason (the caller gets 502, or 503 when a retry
   may succeed). Nothing is published that was not recorded first.

The answer is 202 with the command and a ``Location`` relative to the request (``commands/<id>``, so it
resolves under any stage or base path). The gateway's result arrives later (``command_audit``).

Idempotency: a request with an ``Idempotency-Key`` header gets a command id derived from the caller and
the key, and the record's write is conditional on the id being new. A retry with the same key and the
same command answers the recorded command without sending it again (a command whose publish failed, or
was never confirmed, is published once more: the gateway executes a command id at most once); the same
key with a different command is refused (422).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from envelope.tag_envelope import encode, topic, utc_timestamp

from . import latest_store
from .api import Api, Caller, Reply, Request
from .command_store import FAILED, PENDING, SENT, CommandStore
from .problems import ApiError, bad_parameter, not_found
from .schema import SchemaError, check
from .settings import Settings

IDEMPOTENCY_HEADER = "Idempotency-Key"
REQUESTED_BY_MAX = 256  # the edge's CommandRequest.requested_by
# IoT Core's errors after which the same publish may succeed (botocore already retried it a few times).
_RETRYABLE = frozenset(("ThrottlingException", "ServiceUnavailableException", "InternalFailureException"))
# The record's fields that make two requests the same command (an idempotent retry compares them).
_SAME_COMMAND = ("gateway", "path", "requested", "reason", "expires_in_s")


@dataclass(frozen=True)
class Deps:
    """What the command routes need: settings, clients, and two things of the request the framework keeps back."""

    settings: Settings
    store: CommandStore
    dynamodb: Any  # reads the latest-value table
    iot_data: Any  # publishes to the gateways
    username: str | None  # the Cognito user name (the ``cognito:username`` claim), for people reading the trail
    idempotency_key: str | None  # the raw header, checked by the route


def request_extras(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The caller's Cognito user name and the ``Idempotency-Key`` header of an API Gateway proxy event."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    username = claims.get("cognito:username") or claims.get("username")
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    key = headers.get(IDEMPOTENCY_HEADER.lower())
    return (str(username) if username else None), (None if key is None else str(key))


def _allowed(settings: Settings, path: str) -> Any:
    return next((entry for entry in settings.command_allow_list if entry.path == path), None)


def check_command(body: Mapping[str, Any], settings: Settings) -> None:
    """Refuse (400, naming the field) a command the site does not allow; the body already fits its schema."""
    if body["gateway"] not in settings.gateways:
        raise bad_parameter(
            "gateway",
            f"gateway {body['gateway']!r} is not one of site {settings.site_id}'s gateways; "
            f"fix: use one of {', '.join(settings.gateways)}",
        )
    entry = _allowed(settings, body["path"])
    if entry is None:
        allowed = ", ".join(sorted(item.path for item in settings.command_allow_list))
        raise bad_parameter(
            "path",
            f"path {body['path']} is not on site {settings.site_id}'s setpoint allow-list; fix: use one of {allowed}, "
            "or add it to edge.commands.setpoints in the site file",
        )
    if not entry.min <= body["value"] <= entry.max:
        raise bad_parameter(
            "value",
            f"value {body['value']} is outside the allowed range {entry.min:g}..{entry.max:g} of {body['path']}; "
            "fix: send a value within the range",
        )


def command_id_for(caller: Caller, key: str | None) -> str:
    """A new random id, or, with an idempotency key, the id that key always gives this caller."""
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{caller.kind}\n{caller.id}\n{key}".encode()).hexdigest()[:32]


def requested_by(caller: Caller, username: str | None) -> str:
    """Who asked, as the gateway's audit record echoes it: ``<user name> (<sub>)`` or the IAM ARN."""
    text = f"{username} ({caller.id})" if caller.kind == "cognito" and username else caller.id
    return text if len(text) <= REQUESTED_BY_MAX else text[: REQUESTED_BY_MAX - 3] + "..."


def edge_request(item: Mapping[str, Any]) -> dict[str, Any]:
    """The payload the gateway's command handler parses (``CommandRequest``), from a command's record."""
    return {
        "command_id": item["command_id"],
        "path": item["path"],
        "value": item["requested"],
        "requested_by": item["requested_by"],
        "requested_at": item["requested_at"],
        "expires_at": item["expires_at"],
    }


def old_value(dynamodb: Any, table: str, path: str) -> dict[str, Any] | None:
    """The tag's latest value before the command (``LatestValue``), or None when the table has not seen it."""
    found = dynamodb.get_item(
        TableName=table,
        Key={"path": {"S": path}},
        ProjectionExpression=latest_store.PROJECTION,
        ExpressionAttributeNames=latest_store.PROJECTION_NAMES,
    ).get("Item")
    return None if found is None else latest_store.latest_value(found)


def _idempotency_key(contract: dict[str, Any], raw: str | None) -> str | None:
    if raw is None:
        return None
    header = contract["components"]["parameters"]["CommandIdempotencyKey"]
    try:
        check(contract, header["schema"], raw, IDEMPOTENCY_HEADER)
    except SchemaError as error:
        raise bad_parameter(IDEMPOTENCY_HEADER, str(error)) from error
    return raw.strip('"')  # the structured-field form "key" and the bare form name the same key


def _publish_error(error: Exception) -> ApiError:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    retryable = isinstance(error, BotoCoreError) or code in _RETRYABLE
    detail = f"IoT Core did not take the command ({code or type(error).__name__}); it was not sent"
    if retryable:
        return ApiError(
            503,
            "command-not-sent",
            f"{detail}; fix: retry with the same {IDEMPOTENCY_HEADER} (it is not sent twice)",
            headers={"Retry-After": "5"},
        )
    return ApiError(502, "command-not-sent", f"{detail}; fix: ask the site's operators to check the API's IoT access")


def _send(item: Mapping[str, Any], deps: Deps, now: str) -> dict[str, Any]:
    """Publish a recorded command and record the outcome; raises the 502/503 when the publish fails."""
    try:
        deps.iot_data.publish(topic=item["topic"], qos=1, payload=encode(edge_request(item)))
    except (ClientError, BotoCoreError) as error:
        if deps.store.mark_failed(item["command_id"], f"publish to {item['topic']} failed: {error}", now=now):
            raise _publish_error(error) from error
        # The gateway answered before the publish call returned: the command did arrive.
        return _recorded(item, deps)
    if deps.store.mark_sent(item["command_id"], now=now):
        return {
            **{name: value for name, value in item.items() if name != "state_reason"},
            "state": SENT,
            "updated_at": now,
        }
    return _recorded(item, deps)


def _recorded(item: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    found = deps.store.get(item["command_id"])
    if found is None:
        raise RuntimeError(f"command {item['command_id']} was recorded but is gone from the commands table")
    return found


def _accepted(item: Mapping[str, Any]) -> Reply:
    return Reply(202, command_view(item), headers={"Location": f"commands/{item['command_id']}"})


def post_command(request: Request, deps: Deps) -> Reply:
    """``POST /commands``."""
    key = _idempotency_key(API.contract, deps.idempotency_key)
    body = request.body
    check_command(body, deps.settings)
    now = utc_timestamp(request.now.timestamp())
    expires = utc_timestamp((request.now + timedelta(seconds=body["expiresInS"])).timestamp())
    item: dict[str, Any] = {
        "command_id": command_id_for(request.caller, key),
        "gateway": body["gateway"],
        "path": body["path"],
        "requested": body["value"],
        "who": {
            "kind": request.caller.kind,
            "id": request.caller.id,
            **({"username": deps.username} if deps.username and request.caller.kind == "cognito" else {}),
            "groups": sorted(request.caller.groups),
        },
        "requested_by": requested_by(request.caller, deps.username),
        "state": PENDING,
        "requested_at": now,
        "updated_at": now,
        "expires_in_s": body["expiresInS"],
        "expires_at": expires,
        "topic": topic(deps.settings.site_id, body["gateway"], "commands"),
        **({"reason": body["reason"]} if "reason" in body else {}),
        **({"idempotency_key": key} if key is not None else {}),
    }
    old = old_value(deps.dynamodb, deps.settings.latest_table, body["path"])
    if old is not None:
        item["old"] = old
    existing = deps.store.create(item)
    if existing is None:
        return _accepted(_send(item, deps, now))
    differs = [name for name in _SAME_COMMAND if existing.get(name) != item.get(name)]
    if differs:
        raise ApiError(
            422,
            "idempotency-key-reused",
            f"{IDEMPOTENCY_HEADER} {key!r} was used for command {existing['command_id']} with another "
            f"{', '.join(differs)}; fix: use a new key for a new command",
            field=IDEMPOTENCY_HEADER,
        )
    if existing["state"] in (PENDING, FAILED) and "audit" not in existing:
        return _accepted(_send(existing, deps, now))
    return _accepted(existing)


def get_command(request: Request, deps: Deps) -> dict[str, Any]:
    """``GET /commands/{commandId}``."""
    command_id = request.params["commandId"]
    found = deps.store.get(command_id)
    if found is None:
        raise not_found(
            f"command {command_id} is not in site {deps.settings.site_id}'s record; fix: use the commandId "
            "POST /commands answered",
            field="commandId",
        )
    return command_view(found)


# Record field -> Command field, for the gateway's answers.
_ANSWER_FIELDS = {
    "audit_id": "auditId",
    "result": "result",
    "reason": "reason",
    "node_id": "nodeId",
    "requested_value": "requestedValue",
    "old_value": "oldValue",
    "new_value": "newValue",
    "requested_by": "requestedBy",
    "requested_at": "requestedAt",
    "received_at": "receivedAt",
    "completed_at": "completedAt",
}


def _answer_view(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {camel: answer[name] for name, camel in _ANSWER_FIELDS.items() if answer.get(name) is not None}


def _who_view(who: Mapping[str, Any]) -> dict[str, Any]:
    return {name: who[name] for name in ("kind", "id", "username") if name in who}


def command_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Command`` the API answers for a record of the commands table (absent fields stay out)."""
    fields: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "command_id": ("commandId", str),
        "state": ("state", str),
        "state_reason": ("stateReason", str),
        "gateway": ("gateway", str),
        "path": ("path", str),
        "requested": ("value", float),
        "reason": ("reason", str),
        "who": ("requestedBy", _who_view),
        "requested_at": ("requestedAt", str),
        "expires_at": ("expiresAt", str),
        "updated_at": ("updatedAt", str),
        "old": ("oldValue", dict),
        "audit": ("gatewayAnswer", _answer_view),
        "later_answers": ("laterAnswers", lambda answers: [_answer_view(answer) for answer in answers]),
        "unsolicited": ("unsolicited", bool),
    }
    return {camel: convert(item[name]) for name, (camel, convert) in fields.items() if item.get(name) is not None}


API: Api[Deps] = Api("commands", {"postCommand": post_command, "getCommand": get_command})
