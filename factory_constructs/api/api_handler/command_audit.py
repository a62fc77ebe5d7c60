"""The gateways' answers to setpoint commands, kept with their commands (target of an IoT topic rule).

Each gateway's command handler answers every command it receives with one audit record on
``dmc/<site>/<gateway>/commands/audit`` (``edge/commands/handler.py``: ``AUDIT_FIELDS``, results
``applied``, ``rejected``, ``failed``, ``duplicate``), and re-sends it until IoT Core confirms it, so
an answer may arrive twice. The topic rule ``rule_sql`` selects the record and adds the gateway named
by the topic, which only that gateway may publish to (its IoT policy), so a gateway cannot answer for
another gateway's command. The site's raw zone keeps every audit record too (SiteIot's audit rule):
an answer refused here is logged with its problems and stays there.

What an answer does to the commands table is ``CommandStore.record_answer``'s: the first answer settles
the command, later ones are appended, a repeated one changes nothing, one for an unknown command is
kept as an unsolicited command.

The answer that settles a command (an unsolicited one too) then goes on the site's event bus as one
``Command Result`` event (source ``dmc.commands``): recorded first, published second, so a failed put
loses nothing. It raises ``ResultNotPublished``, and Lambda's retry finds the answer recorded
(``repeated``: the table's conditions refuse to apply it twice) but its ``result_published_at`` missing,
and publishes it then. A crash between the put and that mark publishes twice: a consumer keeps one event
per ``audit_id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from envelope.tag_envelope import SCHEMA_VERSION, parse_timestamp, topic

from .command_store import DUPLICATE, REPEATED, SETTLED, SETTLING_RESULTS, UNSOLICITED, WRONG_GATEWAY, CommandStore
from .settings import Settings

# edge/commands/handler.py's KIND_COMMAND_AUDIT and the audit record's fields kept with a command
# (the edge package does not ship to Lambda; tests/api/test_command_audit.py holds the two equal).
KIND_COMMAND_AUDIT = "command_audit"
ANSWER_FIELDS = (
    "audit_id",
    "command_id",
    "gateway",
    "path",
    "node_id",
    "requested_by",
    "requested_value",
    "old_value",
    "new_value",
    "result",
    "reason",
    "requested_at",
    "received_at",
    "completed_at",
)
TOPIC_GATEWAY = "topic_gateway"  # added by the topic rule: the gateway the topic names
# keep_answer's outcomes beyond CommandStore.record_answer's, and how loud each is in the log.
REFUSED, NO_COMMAND_ID = "refused", "no-command-id"
_LOG_LEVELS = {
    REFUSED: "ERROR",  # not an answer we can read: a misrouted rule, a gateway not in the site file, a bad record
    WRONG_GATEWAY: "ERROR",  # a gateway answered for another gateway's command
    UNSOLICITED: "WARNING",  # a command reached a gateway without this API: someone published to its topic
    NO_COMMAND_ID: "WARNING",  # the gateway could not parse a command at all
}
RESULTS = (*SETTLING_RESULTS, DUPLICATE)
# The site bus's command results: what was written and how it ended, never who asked (``requested_by``
# names a person; the bus feeds rules and consumers beyond the audit trail, which keeps it).
SOURCE = "dmc.commands"
DETAIL_TYPE = "Command Result"
RESULT_FIELDS = (
    "command_id",
    "audit_id",
    "path",
    "requested_value",
    "old_value",
    "new_value",
    "result",
    "completed_at",
)
_VALUE_FIELDS = ("requested_value", "old_value", "new_value")
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


class ResultNotPublished(RuntimeError):
    """The answer is recorded, its ``Command Result`` event is not on the bus; ``outcome`` is keep_answer's."""

    def __init__(self, outcome: Mapping[str, Any], problem: str) -> None:
        super().__init__(f"command {outcome['command_id']}'s result is recorded but not on the bus: {problem}")
        self.outcome = dict(outcome)


def rule_sql(site_id: str) -> str:
    """The topic rule's statement (SQL version 2016-03-23) whose result this handler reads."""
    audit_topics = topic(site_id, "+", "commands/audit")  # dmc/<site>/+/commands/audit: the gateway is level 3
    return f"SELECT *, topic(3) AS {TOPIC_GATEWAY} FROM '{audit_topics}'"


def _command_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128 and set(value) <= _ID_CHARS


def answer_problems(record: Mapping[str, Any], settings: Settings) -> list[str]:
    """Why a rule's record cannot be kept with a command: one line per problem, empty when it can."""
    problems = []
    if record.get("kind") != KIND_COMMAND_AUDIT or record.get("v") != SCHEMA_VERSION:
        problems.append(
            f"kind {record.get('kind')!r} version {record.get('v')!r} is not a {KIND_COMMAND_AUDIT} record "
            f"version {SCHEMA_VERSION}; fix: route only the gateways' commands/audit topics here"
        )
    gateway = record.get(TOPIC_GATEWAY)
    if gateway not in settings.gateways:
        problems.append(
            f"{TOPIC_GATEWAY} {gateway!r} is not one of the site's gateways {', '.join(settings.gateways)}; fix: "
            f"select it in the topic rule ({rule_sql(settings.site_id)}) and list the gateway in the site file"
        )
    if record.get("site") != settings.site_id:
        problems.append(f"site {record.get('site')!r} is not {settings.site_id!r}; fix: check the gateway's site_id")
    if not _command_id(record.get("audit_id")):
        problems.append(f"audit_id {record.get('audit_id')!r} is not an id; fix: send the edge's audit record")
    if record.get("result") not in RESULTS:
        problems.append(f"result {record.get('result')!r} is not one of {', '.join(RESULTS)}")
    for field in ("received_at", "completed_at"):
        try:
            parse_timestamp(str(record[field]))
        except KeyError:
            problems.append(f"{field} is missing; fix: send the edge's audit record")
        except ValueError as error:
            problems.append(f"{field}: {error}")
    return problems


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def result_event(answer: Mapping[str, Any], *, site_id: str, gateway: str, unsolicited: bool) -> dict[str, Any]:
    """The ``Command Result`` event's detail for the answer that settled a command (values that are not
    numbers, as a gateway may echo of a command it could not read, are null)."""
    detail = {field: answer.get(field) for field in RESULT_FIELDS}
    detail.update({field: _number(answer.get(field)) for field in _VALUE_FIELDS})
    return {"site": site_id, "gateway": gateway, **detail, "unsolicited": unsolicited}


def publish_result(events: Any, bus: str, detail: Mapping[str, Any]) -> None:
    """One PutEvents entry on ``bus``; raises when the call fails or EventBridge refuses the entry."""
    response = events.put_events(
        Entries=[{"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail), "EventBusName": bus}]
    )
    if response.get("FailedEntryCount"):  # PutEvents reports a refused entry in its answer instead of raising
        (entry,) = response["Entries"]
        raise RuntimeError(f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")


def keep_answer(
    record: Mapping[str, Any], *, settings: Settings, store: CommandStore, events: Any, now: str
) -> dict[str, Any]:
    """Keep one gateway answer, then publish the result it settles; returns what happened, for the log line
    (``outcome``, the ids, ``published`` when an event went on the bus). Raises ``ResultNotPublished``
    when the answer is recorded and its event could not be put."""
    ids = {
        "audit_id": record.get("audit_id"),
        "command_id": record.get("command_id"),
        "gateway": record.get(TOPIC_GATEWAY),
    }
    problems = answer_problems(record, settings)
    if problems:
        return {"outcome": REFUSED, **ids, "problems": problems, "record": dict(record)}
    if not _command_id(record.get("command_id")):
        # The gateway could not read a command id (malformed JSON, an id the edge refuses): nothing to attach
        # the answer to. It rejected the command; the log line and the raw zone keep its answer.
        return {"outcome": NO_COMMAND_ID, **ids, "result": record["result"], "reason": record.get("reason")}
    answer = {field: record.get(field) for field in ANSWER_FIELDS}
    gateway = record[TOPIC_GATEWAY]
    command_id, audit_id = str(record["command_id"]), str(record["audit_id"])  # both checked ids by now
    outcome = store.record_answer(answer, gateway=gateway, now=now)
    kept = {"outcome": outcome, **ids, "result": record["result"]}
    if outcome == SETTLED or (outcome == UNSOLICITED and record["result"] in SETTLING_RESULTS):
        unsolicited = outcome == UNSOLICITED
    elif outcome == REPEATED and (item := store.unpublished_result(command_id, audit_id)):
        unsolicited = bool(item.get("unsolicited"))  # a retry after a failed publish
    else:
        return kept
    try:
        publish_result(
            events,
            settings.event_bus,
            result_event(answer, site_id=settings.site_id, gateway=gateway, unsolicited=unsolicited),
        )
    except Exception as error:  # whatever failed, the answer stands recorded; Lambda retries the publish
        raise ResultNotPublished(kept, f"{type(error).__name__}: {error}") from error
    store.mark_result_published(command_id, audit_id, now=now)
    return {**kept, "published": True}


def log_level(outcome: Mapping[str, Any]) -> str:
    """The log level of ``keep_answer``'s outcome: an answer kept as expected is INFO."""
    return _LOG_LEVELS.get(outcome["outcome"], "INFO")
