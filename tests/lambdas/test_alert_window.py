"""The stream alerts' window logic, on plain data: each alert fires when it should, and only then."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from lambda_events import GATEWAY, LINE, OTHER_GATEWAY, OTHER_LINE, SHARD, SITE, T0, beat, kinesis_record, tags
from lambda_events import window_bounds as bounds

from factory_constructs.alerts.alert_handler.window import (
    FORGET_AFTER_S,
    MAX_GAP_RANGES,
    MAX_GATEWAYS,
    MAX_NAME_CHARS,
    MAX_SEQUENCES,
    Alert,
    Carry,
    State,
    Thresholds,
    Window,
    evaluate,
    fold,
    start_state,
    state_size,
)

DEFAULTS = Thresholds()


def window(index: int = 0, *, terminated_early: bool = False) -> Window:
    start, end = bounds(index)
    return Window(start=start, end=end, shard_id=SHARD, terminated_early=terminated_early)


def records(*payloads: dict[str, Any] | bytes, arrival: float = T0 + 250) -> list[dict[str, Any]]:
    """Kinesis records arriving one second apart from ``arrival`` (by default late in window 0)."""
    return [kinesis_record(payload, sequence_number=n, arrival=arrival + n) for n, payload in enumerate(payloads)]


def close(
    payloads: Sequence[dict[str, Any] | bytes],
    *,
    carry: Carry | None = None,
    index: int = 0,
    thresholds: Thresholds = DEFAULTS,
    arrival: float = T0 + 250,
) -> tuple[list[Alert], Carry]:
    """One whole window: start (with a carry), fold the records, evaluate."""
    state = fold(start_state(carry), records(*payloads, arrival=arrival))
    return evaluate(state, window(index), thresholds, SITE)


def kinds(alerts: list[Alert]) -> list[str]:
    return [alert.kind for alert in alerts]


def only(alerts: list[Alert], kind: str) -> Alert:
    (alert,) = [alert for alert in alerts if alert.kind == kind]
    return alert


def sourced(alerts: list[Alert], kind: str, source: str) -> Alert:
    (alert,) = [alert for alert in alerts if alert.kind == kind and alert.figures.get("source") == source]
    return alert


def batches(*numbers: int, line: str = LINE) -> list[dict[str, Any] | bytes]:
    return [tags(batch_seq=number, line=line) for number in numbers]


# --- batch_seq: loss and redelivery --------------------------------------------------------------------


def test_consecutive_batches_raise_nothing() -> None:
    alerts, carry = close(batches(0, 1, 2, 3, 4))

    assert alerts == []
    assert carry["sequences"] == {GATEWAY: {LINE: {"high": 4, "arrival": T0 + 254}}}


def test_missing_batch_numbers_are_data_loss_of_that_gateway_and_line() -> None:
    alerts, _ = close(batches(0, 1, 4, 5, 9) + batches(0, 1, line=OTHER_LINE))

    loss = only(alerts, "data-loss")
    assert (loss.site, loss.gateway, loss.line) == (SITE, GATEWAY, LINE)
    assert loss.figures == {"source": "batch_seq", "missing_batches": 5, "gaps": [[2, 3], [6, 8]], "last_batch_seq": 9}


def test_without_line_ordered_shards_gaps_raise_no_alert_but_repeats_still_count() -> None:
    # Stream manager sites: a shard sees only part of a line's batches, so gaps say nothing.
    unordered = Thresholds(sequence_gaps=False)
    assert close(batches(0, 1, 4, 5, 9), thresholds=unordered)[0] == []
    alerts, _ = close(batches(0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9), thresholds=unordered)
    assert [alert.kind for alert in alerts] == ["retransmission-rate"]


def test_out_of_order_batches_fill_their_gaps() -> None:
    # 5 first, then earlier and later numbers: nothing is lost and nothing repeated.
    assert close(batches(5, 3, 4, 7, 6, 2, 8)) == ([], close(batches(2, 3, 4, 5, 6, 7, 8))[1])


def test_a_gap_still_open_after_reordering_is_reported() -> None:
    alerts, _ = close(batches(5, 3, 7, 6))

    assert only(alerts, "data-loss").figures["gaps"] == [[4, 4]]


def test_repeated_batch_numbers_above_the_threshold_are_a_retransmission_alert() -> None:
    alerts, _ = close(batches(0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9))  # 1 repeat of 11 received: 9.1 % > 5 %

    alert = only(alerts, "retransmission-rate")
    assert alert.figures == {
        "source": "stream",
        "repeated_batches": 1,
        "received_batches": 11,
        "rate": 1 / 11,
        "threshold": 0.05,
    }
    assert "data-loss" not in kinds(alerts)


def test_repeats_at_the_threshold_do_not_alert() -> None:
    numbers = [*range(19), 18]  # 1 repeat of 20 received: exactly 5 %

    assert close(batches(*numbers))[0] == []


def test_gaps_beyond_the_tracked_ranges_still_count_as_lost() -> None:
    numbers = range(0, 2 * (MAX_GAP_RANGES + 3), 2)  # every other batch lost: MAX_GAP_RANGES + 2 gaps

    figures = only(close(batches(*numbers))[0], "data-loss").figures

    assert figures["missing_batches"] == MAX_GAP_RANGES + 2
    assert len(figures["gaps"]) == MAX_GAP_RANGES


# --- poison records ------------------------------------------------------------------------------------


def test_poison_records_are_counted_with_sequence_numbers_and_do_not_stop_the_rest() -> None:
    invalid = tags(batch_seq=2)
    invalid["values"][0]["quality"] = "excellent"
    payloads: list[dict[str, Any] | bytes] = [
        tags(batch_seq=0),
        b"\x00\xffnot json",
        tags(batch_seq=1),
        json.dumps(invalid).encode(),
        b"[" * 100_000,
        tags(batch_seq=3, gateway="g" * (MAX_NAME_CHARS + 1)),
        tags(batch_seq=4),
    ]
    stream = records(*payloads)
    stream[6]["kinesis"]["data"] = "%%% not base64"
    state = fold(start_state(None), [*stream, *records(tags(batch_seq=5), arrival=T0 + 260)])

    alerts, _ = evaluate(state, window(), DEFAULTS, SITE)

    malformed = only(alerts, "malformed-records")
    assert malformed.figures["count"] == 5
    assert [sample["sequence_number"] for sample in malformed.figures["records"]] == [
        f"4959{n:052d}" for n in (1, 3, 4, 5, 6)
    ]
    assert "not JSON" in malformed.figures["records"][0]["error"]
    assert "values[0].quality: 'excellent'" in malformed.figures["records"][1]["error"]
    assert "longer than 260" in malformed.figures["records"][3]["error"]
    assert malformed.figures["records"][4]["error"] == "Only base64 data is allowed"
    # The valid batches around them were all read: 2, 3 and 4 never arrived, nothing else is missing.
    assert only(alerts, "data-loss").figures["gaps"] == [[2, 4]]


# --- heartbeats ----------------------------------------------------------------------------------------


def test_heartbeats_older_than_grace_times_interval_at_window_end_raise_heartbeat_missing() -> None:
    end = T0 + 300
    silent = [beat(seq=1, gateway=GATEWAY)]  # arrives at end - 121 s: over 2 x 60 s
    on_time = [beat(seq=1, gateway=OTHER_GATEWAY)]  # arrives at end - 120 s: exactly at the limit

    late, _ = close(silent, arrival=end - 121)
    fine, _ = close(on_time, arrival=end - 120)

    alert = only(late, "heartbeat-missing")
    assert alert.gateway == GATEWAY
    assert alert.figures == {
        "last_heartbeat_at": "2027-01-15T08:02:59.000Z",
        "silent_s": 121.0,
        "interval_s": 60,
        "grace_factor": 2.0,
        "limit_s": 120.0,
        "tracking_stopped": False,
    }
    assert fine == []


def test_grace_factor_comes_from_the_thresholds() -> None:
    alerts, _ = close([beat(seq=1)], arrival=T0 + 300 - 121, thresholds=Thresholds(grace_factor=3))

    assert alerts == []


def test_rise_of_the_lost_counter_is_data_loss_and_a_reset_is_not() -> None:
    rising, _ = close([beat(seq=1, lost=2), beat(seq=3, lost=7), beat(seq=2, lost=4)])
    steady, _ = close([beat(seq=1, lost=2), beat(seq=2, lost=2)])
    reset, _ = close([beat(seq=1, lost=9), beat(seq=2, lost=0)])  # reinstalled gateway

    assert only(rising, "data-loss").figures == {"source": "heartbeat", "lost": 5, "lost_total": 7, "heartbeat_seq": 3}
    assert steady == reset == []


@pytest.mark.parametrize(("clients", "max_clients", "fires"), [(8, 10, True), (79, 100, False), (10, 10, True)])
def test_client_count_alerts_at_or_above_the_ratio(clients: int, max_clients: int, fires: bool) -> None:
    alerts, _ = close([beat(seq=1, clients=1), beat(seq=2, clients=clients, max_clients=max_clients)])

    assert kinds(alerts) == (["client-count"] if fires else [])
    if fires:
        assert alerts[0].figures == {
            "clients": clients,
            "max_clients": max_clients,
            "ratio": clients / max_clients,
            "threshold": 0.8,
        }


def test_client_count_ignores_gateways_without_a_client_limit() -> None:
    assert close([beat(seq=1, clients=5, max_clients=0)])[0] == []


@pytest.mark.parametrize(("retransmissions", "fires"), [(6, True), (5, False)])
def test_retransmission_rate_between_heartbeats_alerts_above_the_threshold(retransmissions: int, fires: bool) -> None:
    first = beat(seq=1, sent=1000, retransmissions=40)
    second = beat(seq=2, sent=1100, retransmissions=40 + retransmissions)  # 6 % or exactly 5 % of 100

    alerts, _ = close([second, first])  # arrival order does not matter

    assert kinds(alerts) == (["retransmission-rate"] if fires else [])
    if fires:
        assert alerts[0].figures == {
            "source": "heartbeat",
            "retransmissions": 6,
            "sent": 100,
            "rate": 0.06,
            "threshold": 0.05,
        }


# --- across windows ------------------------------------------------------------------------------------


def test_carry_lets_the_next_window_see_silence_gaps_and_counter_deltas() -> None:
    first_alerts, carry = close(
        [beat(seq=1, gateway=OTHER_GATEWAY, lost=1), *batches(0, 1, 2), beat(seq=1, lost=3, sent=500)],
        arrival=T0 + 200,
    )
    assert first_alerts == []
    carry = json.loads(json.dumps(carry))  # it is stored as JSON between windows

    # Window 1: GATEWAY's counters rose since window 0; OTHER_GATEWAY sent nothing at all; line resumes at 5.
    later = [beat(seq=2, lost=4, sent=600, retransmissions=10), *batches(5, 6, 1)]
    alerts, _ = close(later, carry=carry, index=1, arrival=T0 + 550)

    assert sorted((alert.kind, alert.gateway, alert.figures.get("source")) for alert in alerts) == [
        ("data-loss", GATEWAY, "batch_seq"),
        ("data-loss", GATEWAY, "heartbeat"),
        ("heartbeat-missing", OTHER_GATEWAY, None),
        ("retransmission-rate", GATEWAY, "heartbeat"),
        ("retransmission-rate", GATEWAY, "stream"),  # batch 1 came in window 0 already
    ]
    assert only(alerts, "heartbeat-missing").figures["silent_s"] == 600 - 200
    assert sourced(alerts, "data-loss", "batch_seq").figures["gaps"] == [[3, 4]]
    assert sourced(alerts, "data-loss", "heartbeat").figures["lost"] == 1
    retransmitted = sourced(alerts, "retransmission-rate", "heartbeat")
    assert (retransmitted.figures["retransmissions"], retransmitted.figures["sent"]) == (10, 100)


def test_a_redelivered_old_heartbeat_changes_no_counter() -> None:
    _, carry = close([beat(seq=5, lost=3, sent=100)])

    alerts, _ = close([beat(seq=4, lost=1, sent=90, clients=0)], carry=carry, index=1, arrival=T0 + 550)

    assert alerts == []


def test_a_gateway_silent_for_a_day_is_reported_once_more_then_forgotten() -> None:
    _, carry = close([beat(seq=1, gateway=OTHER_GATEWAY)])  # arrives T0 + 250
    missing, carry = close([beat(seq=1)], carry=carry, index=1, arrival=T0 + 550)
    assert only(missing, "heartbeat-missing").figures["tracking_stopped"] is False
    assert OTHER_GATEWAY in carry["gateways"]

    # Window 288 ends at T0 + 86,700 s: 86,450 s of silence, over the day.
    last, carry = close([beat(seq=2)], carry=carry, index=288, arrival=T0 + 86_650)

    assert only(last, "heartbeat-missing").figures["tracking_stopped"] is True
    assert FORGET_AFTER_S == 86_400
    assert OTHER_GATEWAY not in carry["gateways"]
    assert close([beat(seq=3)], carry=carry, index=289, arrival=T0 + 86_950)[0] == []


def test_an_early_ended_window_measures_silence_up_to_the_last_record() -> None:
    # Lambda ends a window early when the state outgrows 1 MB; the window end is then still ahead.
    state = fold(start_state(None), records(beat(seq=1), tags(batch_seq=0), arrival=T0 + 10))

    alerts, _ = evaluate(state, window(terminated_early=True), DEFAULTS, SITE)

    assert alerts == []
    assert kinds(evaluate(state, window(), DEFAULTS, SITE)[0]) == ["heartbeat-missing"]


# --- the state itself ----------------------------------------------------------------------------------


def test_state_survives_json_between_invocations_of_one_window() -> None:
    stream = records(beat(seq=1, lost=0), *batches(0, 1, 3), beat(seq=2, lost=2), *batches(2, 5))
    in_one = fold(start_state(None), stream)

    state: State = start_state(None)
    for part in (stream[:2], stream[2:4], stream[4:]):
        state = json.loads(json.dumps(fold(state, part)))

    assert evaluate(state, window(), DEFAULTS, SITE) == evaluate(in_one, window(), DEFAULTS, SITE)
    assert kinds(evaluate(state, window(), DEFAULTS, SITE)[0]) == ["data-loss", "data-loss"]


def test_state_and_carry_stay_bounded_at_their_caps() -> None:
    longest = MAX_NAME_CHARS
    payloads: list[dict[str, Any] | bytes] = []
    for number in range(MAX_GATEWAYS + 5):
        payloads.append(beat(seq=10**12, gateway=f"{number:05d}".ljust(longest, "g"), sent=10**15, lost=10**12))
    for number in range(MAX_SEQUENCES + 5):
        line = f"acme/plantA/area/{number:05d}".ljust(longest, "l")
        payloads.append(tags(batch_seq=10**12, gateway=f"{number:05d}".ljust(longest, "g"), line=line))
    for number in range(200):
        payloads.append(f"poison {number} ".encode() * 100)
    state = fold(start_state(None), records(*payloads))
    for lines in state["sequences"].values():  # every gap list full, of the widest numbers
        for entry in lines.values():
            entry["gaps"] = [[10**12 + 1, 10**12 + 2]] * MAX_GAP_RANGES

    _, carry = evaluate(state, window(), DEFAULTS, SITE)

    assert state["untracked"] == {"gateways": 5, "sequences": 5}
    assert state_size(state) < 1_000_000  # Lambda's limit per shard
    assert len(json.dumps(carry, separators=(",", ":"))) < 400_000  # DynamoDB's item limit
