"""Publishing: EventBridge's partial failures raise, batches respect PutEvents' 10 entries, subjects are SNS-safe."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_events import SHARD, SITE

from factory_constructs.alerts.alert_handler.publish import PublishError, publish_alerts, subject
from factory_constructs.alerts.alert_handler.window import Alert, Window

WINDOW = Window(start="2027-01-15T08:00:00Z", end="2027-01-15T08:05:00Z", shard_id=SHARD)


def alert(gateway: str | None = "plantA-gw-01", kind: str = "heartbeat-missing") -> Alert:
    return Alert(kind=kind, site=SITE, gateway=gateway, line=None, summary="s", figures={}, window=WINDOW)


class RecordingSns:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    def publish(self, **request: Any) -> dict[str, Any]:
        self.subjects.append(request["Subject"])
        return {"MessageId": str(len(self.subjects))}


class PartlyRefusingEvents:
    """Answers like EventBridge when it accepts the call but throttles the last entry of each batch."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(len(Entries))
        answers: list[dict[str, Any]] = [{"EventId": "x"} for _ in Entries[:-1]]
        answers.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"})
        return {"FailedEntryCount": 1, "Entries": answers}


class AcceptingEvents(PartlyRefusingEvents):
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(len(Entries))
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}


def test_entries_refused_by_eventbridge_raise() -> None:
    with pytest.raises(PublishError, match="EventBridge refused 1 alert\\(s\\): ThrottlingException"):
        publish_alerts([alert()], sns=RecordingSns(), events=PartlyRefusingEvents(), topic_arn="t", bus_name="b")


def test_alerts_go_to_eventbridge_in_batches_of_ten() -> None:
    events = AcceptingEvents()
    sns = RecordingSns()

    publish_alerts([alert() for _ in range(23)], sns=sns, events=events, topic_arn="t", bus_name="b")

    assert events.batches == [10, 10, 3]
    assert len(sns.subjects) == 23


def test_subject_is_ascii_and_at_most_100_characters() -> None:
    assert subject(alert()) == "[plantA] Gateway Heartbeat Missing: plantA-gw-01"
    assert (
        subject(alert(gateway="gw-ü\nx" + "y" * 200))
        == ("[plantA] Gateway Heartbeat Missing: gw-??x" + "y" * 200)[:100]
    )
    assert subject(alert(gateway=None, kind="malformed-records")) == f"[plantA] Malformed Records: {SHARD}"
