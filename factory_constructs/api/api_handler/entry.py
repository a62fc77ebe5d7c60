"""Every Lambda entry point of the site API: thin wiring of settings and boto3 clients to the logic.

Handlers (dotted from the asset root, where ``api_handler/`` and ``envelope/`` sit side by side):

* ``api_handler.entry.catalog``, ``.values``, ``.commands``, ``.alerts``: API Gateway REST (Lambda proxy)
  events, routed from the OpenAPI document (``api.py``);
* ``api_handler.entry.latest_consumer``: the Kinesis event source on the site's tag stream (with
  ``ReportBatchItemFailures``);
* ``api_handler.entry.alert_recorder``: the EventBridge rule target for the stream alerts;
* ``api_handler.entry.command_audit``: the IoT topic rule target for the gateways' command answers
  (``command_audit.rule_sql``).

Settings (``settings.VARIABLES`` lists each function's variables) and clients are made once per
execution environment, on first use, and kept: a warm invoke pays for neither.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import boto3

from envelope.tag_envelope import utc_timestamp

from . import alerts as alert_routes
from . import catalog as catalog_routes
from . import commands as command_routes
from . import values as value_routes
from .alert_recorder import BadAlertEvent, record
from .command_audit import ResultNotPublished, keep_answer, log_level
from .command_store import CommandStore
from .latest_consumer import consume
from .logs import log
from .queries import AthenaQueries
from .settings import Settings, parse_environment


@functools.cache
def aws_client(service: str) -> Any:
    """One boto3 client per service, created on first use and kept while the execution environment lives."""
    return boto3.client(service)


@functools.cache
def settings(handler: str) -> Settings:
    """The function's settings, read once; a misconfiguration raises on every invoke, naming the variable."""
    return parse_environment(handler, os.environ)


@functools.cache
def _athena(workgroup: str) -> AthenaQueries:
    return AthenaQueries(aws_client("athena"), workgroup)


def _catalog_deps() -> catalog_routes.Deps:
    return catalog_routes.Deps(settings=settings("catalog"), dynamodb=aws_client("dynamodb"), glue=aws_client("glue"))


def _values_deps() -> value_routes.Deps:
    found = settings("values")
    return value_routes.Deps(settings=found, dynamodb=aws_client("dynamodb"), queries=_athena(found.athena_workgroup))


def _alerts_deps() -> alert_routes.Deps:
    return alert_routes.Deps(settings=settings("alerts"), dynamodb=aws_client("dynamodb"))


def _commands_deps(event: dict[str, Any]) -> command_routes.Deps:
    found = settings("commands")
    username, idempotency_key = command_routes.request_extras(event)
    return command_routes.Deps(
        settings=found,
        store=CommandStore(aws_client("dynamodb"), found.commands_table),
        dynamodb=aws_client("dynamodb"),
        iot_data=aws_client("iot-data"),
        username=username,
        idempotency_key=idempotency_key,
    )


def catalog(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """GET /tags, GET /datasets."""
    return catalog_routes.API.handle(event, context, _catalog_deps)


def values(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Latest values, history, aggregates, interpolation, batches and OEE."""
    return value_routes.API.handle(event, context, _values_deps)


def commands(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """POST /commands, GET /commands/{commandId}."""
    return command_routes.API.handle(event, context, lambda: _commands_deps(event))


def alerts(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """GET /alerts."""
    return alert_routes.API.handle(event, context, _alerts_deps)


def latest_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Kinesis batch -> latest-value table; the records to retry come back as ``batchItemFailures``."""
    found = settings("latest_consumer")
    outcome = consume(event.get("Records", []), dynamodb=aws_client("dynamodb"), table=found.latest_table)
    log(
        "latest-consumer",
        request_id=getattr(context, "aws_request_id", ""),
        level="WARNING" if outcome.failures else "INFO",
        records=outcome.records,
        values=outcome.values,
        written=outcome.written,
        stale=outcome.stale,
        skipped=outcome.skipped,
        refused=outcome.reasons,
    )
    return {"batchItemFailures": [{"itemIdentifier": number} for number in outcome.failures]}


def alert_recorder(event: dict[str, Any], context: Any) -> None:
    """One EventBridge event -> one alerts-table item. A malformed event is logged and dropped (a retry
    cannot mend it); a DynamoDB failure raises, so EventBridge's retry policy delivers the event again."""
    found = settings("alert_recorder")
    request_id = getattr(context, "aws_request_id", "")
    try:
        item = record(event, dynamodb=aws_client("dynamodb"), table=found.alerts_table, site=found.site_id)
    except BadAlertEvent as error:
        log("alert event refused", request_id=request_id, level="ERROR", event_id=event.get("id"), problem=str(error))
        return
    log("alert recorded", request_id=request_id, event_id=event.get("id"), at_id=item["at_id"]["S"])


def command_audit(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One gateway answer (the topic rule's record) -> its command's record, and the result it settles onto
    the site's bus. An answer that cannot be kept is logged as an error and dropped (a retry cannot mend it;
    the raw zone has the record); a DynamoDB or EventBridge failure raises, so Lambda's retries of the
    rule's asynchronous invoke deliver the answer again (a recorded one is only published then)."""
    found = settings("command_audit")
    store = CommandStore(aws_client("dynamodb"), found.commands_table)
    request_id = getattr(context, "aws_request_id", "")
    try:
        outcome = keep_answer(
            event, settings=found, store=store, events=aws_client("events"), now=utc_timestamp(time.time())
        )
    except ResultNotPublished as error:
        log("command result not published", request_id=request_id, level="ERROR", **error.outcome, problem=str(error))
        raise
    log("command answer", request_id=request_id, level=log_level(outcome), **outcome)
    return outcome
