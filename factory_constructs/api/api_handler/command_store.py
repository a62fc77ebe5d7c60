"""The commands table: one item per setpoint command, from the API's request to the gateway's answer.

Table key ``command_id`` (string). An item holds who asked (``who``), what (``gateway``, ``path``,
``requested``, ``reason``), the value the latest-value table knew before (``old``, ``old_ts``), when
(``requested_at``, ``expires_at``, ``updated_at``), the ``state`` and, once the gateway answered, its
audit record (``audit``). The table has point-in-time recovery and is never written without a
condition, so the record only moves forward:

* ``pending``: recorded, the publish to IoT Core not yet confirmed (nothing is sent unrecorded);
* ``sent``: IoT Core accepted the QoS 1 publish;
* ``failed`` (``state_reason`` says why): IoT Core refused the publish, or the gateway reports failed;
* ``applied`` / ``rejected``: the gateway's result (``edge/commands/handler.py``).

The gateway's first answer settles a command, whatever state the API left it in (the gateway knows
best whether a command arrived). Every later answer (the edge handler answers ``duplicate`` to a
redelivered command) is appended to ``later_answers``, never over the first; a redelivered answer
(same ``audit_id``) changes nothing. An answer for a command the API never recorded is kept as an
item of its own with ``unsolicited`` set, so a write that bypassed the API shows up in the trail.

Once the answer that settled a command is on the site's event bus (``command_audit.publish_result``),
``result_published_at`` says when; a retry after a failed publish finds the answer recorded and the
attribute missing, and publishes it then (``unpublished_result``).

Items are plain JSON-like dicts here; ``to_attributes`` / ``from_attributes`` convert them to and
from DynamoDB's typed attributes (the client is passed in: boto3's low-level ``dynamodb``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from envelope.tag_envelope import parse_timestamp

PENDING, SENT, FAILED, APPLIED, REJECTED = "pending", "sent", "failed", "applied", "rejected"
STATES = (PENDING, SENT, FAILED, APPLIED, REJECTED)
# The edge handler's results; all but duplicate settle a command.
SETTLING_RESULTS = (APPLIED, REJECTED, FAILED)
DUPLICATE = "duplicate"
# What record_answer did with a gateway's answer.
SETTLED, APPENDED, REPEATED, UNSOLICITED, WRONG_GATEWAY = (
    "settled",
    "appended",
    "repeated",
    "unsolicited",
    "wrong-gateway",
)

_NOT_SETTLED = "attribute_not_exists(audit)"


def _timestamp_or(text: Any, default: str) -> str:
    try:
        parse_timestamp(text)
    except ValueError:
        return default
    return str(text)


def to_attribute(value: Any) -> dict[str, Any]:
    """One JSON value as a DynamoDB attribute (a number that is not finite is kept as its text)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)} if math.isfinite(value) else {"S": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": to_attributes(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(item) for item in value]}
    if isinstance(value, set | frozenset) and value and all(isinstance(item, str) for item in value):
        return {"SS": sorted(value)}
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: to_attribute(value) for key, value in item.items()}


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """The JSON value of a DynamoDB attribute; numbers come back as int when they are whole in the table."""
    (kind, value), *_ = attribute.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "M":
        return from_attributes(value)
    if kind == "L":
        return [from_attribute(item) for item in value]
    if kind == "SS":
        return sorted(value)
    if kind == "NULL":
        return None
    return value  # S, BOOL


def from_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: from_attribute(value) for key, value in item.items()}


class CommandStore:
    """Conditional reads and writes of the commands table."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def create(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record a new command; returns None, or the item already under its ``command_id`` (nothing written)."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(command_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            return from_attributes(error.response["Item"])  # the condition fails only when there is one
        return None

    def get(self, command_id: str) -> dict[str, Any] | None:
        found = self._dynamodb.get_item(
            TableName=self._table, Key={"command_id": {"S": command_id}}, ConsistentRead=True
        ).get("Item")
        return None if found is None else from_attributes(found)

    def mark_sent(self, command_id: str, *, now: str) -> bool:
        """IoT Core accepted the publish; False when the gateway answered first (its answer stands)."""
        return self._advance(command_id, {"state": SENT, "updated_at": now}, remove=("state_reason",))

    def mark_failed(self, command_id: str, reason: str, *, now: str) -> bool:
        """The publish failed; False when the gateway answered first (the command did arrive)."""
        return self._advance(command_id, {"state": FAILED, "state_reason": reason, "updated_at": now})

    def record_answer(self, answer: Mapping[str, Any], *, gateway: str, now: str) -> str:
        """Keep one gateway answer (the edge's audit record) with its command; returns what was done.

        ``gateway`` is the thing that published the answer (from its topic, which only that thing may
        publish to): an answer about another gateway's command changes nothing (``WRONG_GATEWAY``).
        """
        command_id = answer["command_id"]
        if answer["result"] in SETTLING_RESULTS:
            settled = self._update(
                command_id,
                "SET #state = :state, audit = :audit, updated_at = :now REMOVE state_reason",
                f"attribute_exists(command_id) AND gateway = :gateway AND {_NOT_SETTLED}",
                {
                    ":state": to_attribute(answer["result"]),
                    ":audit": to_attribute(answer),
                    ":now": {"S": now},
                    ":gateway": {"S": gateway},
                },
            )
            if settled:
                return SETTLED
        appended = self._update(
            command_id,
            "SET later_answers = list_append(if_not_exists(later_answers, :none), :answer), updated_at = :now "
            "ADD answer_ids :ids",
            "attribute_exists(command_id) AND gateway = :gateway AND NOT contains(answer_ids, :audit_id) "
            f"AND ({_NOT_SETTLED} OR audit.audit_id <> :audit_id)",
            {
                ":none": {"L": []},
                ":answer": {"L": [to_attribute(answer)]},
                ":now": {"S": now},
                ":ids": {"SS": [answer["audit_id"]]},
                ":gateway": {"S": gateway},
                ":audit_id": {"S": answer["audit_id"]},
            },
        )
        if appended:
            return APPENDED
        existing = self.get(command_id)
        if existing is None:
            return self._unsolicited(answer, gateway=gateway, now=now)
        if existing["gateway"] != gateway:
            return WRONG_GATEWAY
        return REPEATED

    def unpublished_result(self, command_id: str, audit_id: str) -> dict[str, Any] | None:
        """The command, when the answer ``audit_id`` settled it and its result is not yet on the bus; else None."""
        item = self.get(command_id)
        if item is None or "result_published_at" in item or (item.get("audit") or {}).get("audit_id") != audit_id:
            return None
        return item

    def mark_result_published(self, command_id: str, audit_id: str, *, now: str) -> bool:
        """The settling answer ``audit_id`` is on the bus; False when it was marked already (nothing written)."""
        return self._update(
            command_id,
            "SET result_published_at = :now",
            "audit.audit_id = :audit_id AND attribute_not_exists(result_published_at)",
            {":now": {"S": now}, ":audit_id": {"S": audit_id}},
        )

    def _unsolicited(self, answer: Mapping[str, Any], *, gateway: str, now: str) -> str:
        settling = answer["result"] in SETTLING_RESULTS
        requested = answer.get("requested_value")
        item = {
            "command_id": answer["command_id"],
            "unsolicited": True,
            "gateway": gateway,
            "path": answer.get("path"),
            # What the gateway echoes of a command it could not parse may be anything: keep only a number.
            "requested": requested if isinstance(requested, int | float) and not isinstance(requested, bool) else None,
            "state": answer["result"] if settling else SENT,
            "requested_at": _timestamp_or(answer.get("requested_at"), answer["received_at"]),
            "updated_at": now,
            **({"audit": answer} if settling else {"later_answers": [answer], "answer_ids": {answer["audit_id"]}}),
        }
        if self.create(item) is None:
            return UNSOLICITED
        # Recorded between our update and our put (the API, or a concurrent copy of this answer): try again.
        return self.record_answer(answer, gateway=gateway, now=now)

    def _advance(self, command_id: str, fields: Mapping[str, Any], remove: tuple[str, ...] = ()) -> bool:
        names = {f"#{name}": name for name in fields}
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
        if remove:
            update += " REMOVE " + ", ".join(remove)
        return self._update(
            command_id,
            update,
            f"#state IN (:pending, :failed) AND {_NOT_SETTLED}",
            {f":{name}": to_attribute(value) for name, value in fields.items()}
            | {":pending": {"S": PENDING}, ":failed": {"S": FAILED}},
            names,
        )

    def _update(
        self,
        command_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
    ) -> bool:
        """One conditional update; False when its condition does not hold (nothing written)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"command_id": {"S": command_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    name: attribute
                    for name, attribute in {"#state": "state", **(names or {})}.items()
                    if name in update or name in condition  # DynamoDB refuses a name no expression uses
                },
                ExpressionAttributeValues=dict(values),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True
