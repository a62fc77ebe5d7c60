"""The stream alerts handler against moto: state during a window, alerts and carry at its end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lambda_events import GATEWAY, LINE, OTHER_GATEWAY, SHARD, SITE, T0, beat, kinesis_record, tags, window_event
from moto_alerts import AlertAws

from factory_constructs.alerts.alert_handler.handler import config_from_env, handler
from factory_constructs.alerts.alert_handler.window import Thresholds


def stream(*payloads: dict[str, Any] | bytes, first: int, arrival: float) -> list[dict[str, Any]]:
    return [kinesis_record(p, sequence_number=first + n, arrival=arrival + n) for n, p in enumerate(payloads)]


def test_window_keeps_state_then_publishes_and_carries_to_the_next_window(alert_aws: AlertAws) -> None:
    # Window 0, first batch of records: nothing is published, the state comes back for the next invoke.
    opening = stream(beat(seq=1, gateway=OTHER_GATEWAY), tags(batch_seq=0), first=0, arrival=T0 + 200)
    response = handler(window_event(opening, state={}), None)
    assert alert_aws.sns_alerts() == [] and alert_aws.bus_entries() == []
    assert response["batchItemFailures"] == []
    state = json.loads(json.dumps(response["state"]))  # Lambda passes it on as JSON

    # Final invoke of window 0: a full gateway, a poison record, a lost batch.
    closing = stream(beat(seq=1, clients=8, max_clients=10), b"\xde\xad", tags(batch_seq=2), first=2, arrival=T0 + 250)
    response = handler(window_event(closing, state=state, final=True), None)

    assert response == {"state": {}, "batchItemFailures": []}
    delivered = {alert["kind"]: alert for alert in alert_aws.sns_alerts()}
    assert sorted(delivered) == ["client-count", "data-loss", "malformed-records"]
    assert delivered["client-count"]["site"] == SITE
    assert delivered["client-count"]["gateway"] == GATEWAY
    assert delivered["client-count"]["figures"]["ratio"] == 0.8
    assert delivered["client-count"]["window"] == {
        "start": "2027-01-15T08:00:00Z",
        "end": "2027-01-15T08:05:00Z",
        "shard_id": SHARD,
        "terminated_early": False,
    }
    assert delivered["client-count"]["attributes"]["kind"]["StringValue"] == "client-count"
    assert (delivered["data-loss"]["line"], delivered["data-loss"]["figures"]["gaps"]) == (LINE, [[1, 1]])
    assert delivered["malformed-records"]["figures"]["records"][0]["sequence_number"] == f"4959{3:052d}"

    entries = alert_aws.bus_entries()
    assert {entry["Source"] for entry in entries} == {"dmc.stream-alerts"}
    assert {entry["EventBusName"] for entry in entries} == {"plantA-alerts"}
    assert sorted(entry["DetailType"] for entry in entries) == [
        "Client Count High",
        "Data Loss Reported",
        "Malformed Records",
    ]
    by_id = {json.loads(entry["Detail"])["alert_id"]: json.loads(entry["Detail"]) for entry in entries}
    assert by_id == {
        alert["alert_id"]: {k: v for k, v in alert.items() if k != "attributes"} for alert in delivered.values()
    }

    carry = alert_aws.carry()
    assert carry is not None
    assert sorted(carry["gateways"]) == [GATEWAY, OTHER_GATEWAY]
    assert carry["sequences"] == {GATEWAY: {LINE: {"high": 2, "arrival": T0 + 252}}}

    # Window 1 opens with an empty state: the handler seeds it from the carry. OTHER_GATEWAY stays silent.
    following = stream(beat(seq=2), tags(batch_seq=3), first=5, arrival=T0 + 550)
    handler(window_event(following, state={}, window=1, final=True), None)

    (missing,) = alert_aws.sns_alerts()
    assert (missing["kind"], missing["gateway"]) == ("heartbeat-missing", OTHER_GATEWAY)
    assert missing["figures"]["silent_s"] == 400.0


def test_failed_sns_publish_raises_so_lambda_retries_and_the_carry_is_not_advanced(
    alert_aws: AlertAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_TOPIC_ARN", "arn:aws:sns:eu-central-1:123456789012:deleted-topic")
    event = window_event(stream(tags(batch_seq=0), tags(batch_seq=5), first=0, arrival=T0 + 250), state={}, final=True)

    with pytest.raises(ClientError, match="NotFound"):
        handler(event, None)

    assert alert_aws.carry() is None
    assert alert_aws.bus_entries() == []


def test_a_quiet_window_publishes_nothing_and_still_stores_the_carry(alert_aws: AlertAws) -> None:
    event = window_event(stream(beat(seq=1), tags(batch_seq=0), first=0, arrival=T0 + 250), state={}, final=True)

    handler(event, None)

    assert alert_aws.sns_alerts() == [] and alert_aws.put_events == []
    carry = alert_aws.carry()
    assert carry is not None and list(carry["gateways"]) == [GATEWAY]


def test_thresholds_come_from_the_environment() -> None:
    env = {
        "SITE_ID": SITE,
        "ALERT_TOPIC_ARN": "arn:aws:sns:eu-central-1:123456789012:alerts",
        "ALERT_BUS_NAME": "alerts",
        "CARRY_TABLE_NAME": "carry",
    }
    assert config_from_env(env).thresholds == Thresholds(grace_factor=2, client_ratio=0.8, retransmission_rate=0.05)

    tuned = {
        **env,
        "HEARTBEAT_GRACE_FACTOR": "3",
        "CLIENT_RATIO_THRESHOLD": "0.9",
        "RETRANSMISSION_RATE_THRESHOLD": "0.1",
    }
    assert config_from_env(tuned).thresholds == Thresholds(grace_factor=3, client_ratio=0.9, retransmission_rate=0.1)
    assert config_from_env({**env, "SEQUENCE_GAP_ALERTS": "false"}).thresholds.sequence_gaps is False
    with pytest.raises(ValueError, match="SEQUENCE_GAP_ALERTS='no' is not true or false"):
        config_from_env({**env, "SEQUENCE_GAP_ALERTS": "no"})


def test_configuration_errors_are_all_named_at_once() -> None:
    env = {"SITE_ID": SITE, "CLIENT_RATIO_THRESHOLD": "1.5", "HEARTBEAT_GRACE_FACTOR": "two"}

    with pytest.raises(ValueError) as raised:
        config_from_env(env)

    assert str(raised.value) == (
        "stream alerts misconfigured: ALERT_TOPIC_ARN is not set; ALERT_BUS_NAME is not set; "
        "CARRY_TABLE_NAME is not set; HEARTBEAT_GRACE_FACTOR='two' is not a number in (0, 100]; "
        "CLIENT_RATIO_THRESHOLD='1.5' is not a number in (0, 1]"
    )
