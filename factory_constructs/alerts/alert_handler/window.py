"""The stream alerts' window logic: plain JSON data in, plain data out, no AWS.

Lambda's tumbling window hands every invocation the state the previous one returned, and evaluates
nothing itself: at the window's final invoke we turn the state into alerts. Lambda then DROPS that state,
and the next window starts from ``{}``. What must outlive a window (each gateway's last heartbeat, the
last ``batch_seq`` of each (gateway, line)) is therefore extracted as a small *carry* that the handler
stores, and folded into the first state of the next window by ``start_state``.

One state belongs to one shard. Heartbeats are partitioned by gateway and tag batches by line, so a
gateway is watched on the shard its heartbeats land on, and a (gateway, line) on the shard of its line.

Alert kinds and when they fire (``as_of`` is the window end):

* ``heartbeat-missing``: a gateway's last heartbeat arrived more than grace_factor * interval_s before as_of.
* ``data-loss``: batch numbers of a (gateway, line) still missing at window end, or a rise of the
  heartbeat's cumulative ``lost`` counter.
* ``client-count``: clients / max_clients reached the threshold (at or above) in a heartbeat.
* ``retransmission-rate``: delta(retransmissions) / delta(sent) between heartbeats above the threshold,
  or repeated batch numbers (redeliveries) above the threshold share of the batches received.
* ``malformed-records``: records that are not valid envelope messages, with their sequence numbers.

The state stays below Lambda's 1 MB per shard: at most MAX_GATEWAYS gateways and MAX_SEQUENCES
(gateway, line) pairs are tracked (under 0.6 MB with every name at its longest and every gap list full);
more are counted as untracked and logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from envelope.tag_envelope import KIND_HEARTBEAT, decode, utc_timestamp

STATE_VERSION = 1
MAX_GATEWAYS = 200
MAX_SEQUENCES = 500
MAX_NAME_CHARS = 260  # an ISA-95 line path of four 64-character segments, as the site model allows
MAX_GAP_RANGES = 8  # open gaps kept per (gateway, line); older ones are counted as lost, no longer fillable
MAX_MALFORMED_SAMPLES = 50
MAX_ERROR_CHARS = 300
GAPS_SHOWN = 10
# A gateway silent this long has been alerted on every window for a day: stop tracking it, so a
# decommissioned gateway does not alert for ever.
FORGET_AFTER_S = 24 * 3600

_COUNTERS = ("seq", "sent", "retransmissions", "lost")

State = dict[str, Any]
Carry = dict[str, Any]


@dataclass(frozen=True)
class Thresholds:
    """The site's alert thresholds (site model ``alerts``)."""

    grace_factor: float = 2.0
    client_ratio: float = 0.8
    retransmission_rate: float = 0.05
    # Gaps in batch_seq mean loss only when all batches of a line share a shard (MQTT: the rule's partition
    # key is the line). Stream manager gives each record a random key, so a shard sees a line's batches
    # only in part; such sites rely on the heartbeat's lost counter instead.
    sequence_gaps: bool = True


@dataclass(frozen=True)
class Window:
    """The tumbling window being closed, as Lambda describes it."""

    start: str
    end: str
    shard_id: str
    terminated_early: bool = False

    def as_detail(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "shard_id": self.shard_id,
            "terminated_early": self.terminated_early,
        }


@dataclass(frozen=True)
class Alert:
    """One finding of a window; ``detail`` is what SNS and EventBridge carry."""

    kind: str
    site: str
    gateway: str | None
    line: str | None
    summary: str
    figures: dict[str, Any]
    window: Window

    @property
    def alert_id(self) -> str:
        """Deterministic: a retried final invoke republishes the same ids, so consumers can deduplicate."""
        source = self.figures.get("source", "")
        parts = (self.site, self.kind, source, self.gateway, self.line, self.window.start, self.window.shard_id)
        return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:32]

    def detail(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "site": self.site,
            "kind": self.kind,
            "gateway": self.gateway,
            "line": self.line,
            "summary": self.summary,
            "figures": self.figures,
            "window": self.window.as_detail(),
        }


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()  # Lambda's window bounds carry "Z"


# --- state -------------------------------------------------------------------------------------------


def start_state(carry: Carry | None) -> State:
    """The first state of a window, seeded with what the previous window carried (if any)."""
    state: State = {
        "v": STATE_VERSION,
        "seen_until": None,
        "gateways": {},
        "sequences": {},
        "malformed": {"count": 0, "samples": []},
        "untracked": {"gateways": 0, "sequences": 0},
    }
    if not carry or carry.get("v") != STATE_VERSION:
        return state
    for gateway, last in carry["gateways"].items():
        counters = {key: last[key] for key in _COUNTERS}
        state["gateways"][gateway] = {
            "anchored": True,
            "base": counters,
            "last": counters,
            "arrival": last["arrival"],
            "interval_s": last["interval_s"],
            "peak": None,
        }
    for gateway, lines in carry["sequences"].items():
        # Everything up to the carried high was received, or reported lost, in earlier windows.
        state["sequences"][gateway] = {
            line: {
                "anchored": True,
                "low": last["high"],
                "high": last["high"],
                "gaps": [],
                "lost_untracked": 0,
                "received": 0,
                "repeats": 0,
                "arrival": last["arrival"],
            }
            for line, last in lines.items()
        }
    return state


def fold(state: State, records: list[dict[str, Any]]) -> State:
    """Add a batch of Kinesis event records to the window state (mutated and returned)."""
    for record in records:
        kinesis = record["kinesis"]
        arrival = float(kinesis["approximateArrivalTimestamp"])
        state["seen_until"] = max(arrival, state["seen_until"] or arrival)
        try:
            message = decode(base64.b64decode(kinesis["data"], validate=True))
        except (binascii.Error, ValueError, RecursionError) as error:
            # A poison record must never block the shard: count it, keep a sample, carry on.
            _note_malformed(state, kinesis["sequenceNumber"], str(error) or type(error).__name__)
            continue
        names = (message["gateway"], message.get("line", ""))
        if max(len(name) for name in names) > MAX_NAME_CHARS:
            # The envelope does not bound names; the state must stay bounded.
            _note_malformed(state, kinesis["sequenceNumber"], f"gateway or line longer than {MAX_NAME_CHARS} chars")
        elif message["kind"] == KIND_HEARTBEAT:
            _fold_heartbeat(state, message, arrival)
        else:
            _fold_batch(state, message["gateway"], message["line"], message["batch_seq"], arrival)
    return state


def _note_malformed(state: State, sequence_number: str, reason: str) -> None:
    malformed = state["malformed"]
    malformed["count"] += 1
    if len(malformed["samples"]) < MAX_MALFORMED_SAMPLES:
        malformed["samples"].append({"sequence_number": sequence_number, "error": reason[:MAX_ERROR_CHARS]})


def _fold_heartbeat(state: State, beat: dict[str, Any], arrival: float) -> None:
    gateways = state["gateways"]
    counters = {key: beat[key] for key in _COUNTERS}
    entry = gateways.get(beat["gateway"])
    if entry is None:
        if len(gateways) >= MAX_GATEWAYS:
            state["untracked"]["gateways"] += 1
            return
        entry = {"anchored": False, "base": counters, "last": counters, "arrival": arrival, "peak": None}
        entry["interval_s"] = beat["interval_s"]
        gateways[beat["gateway"]] = entry
    # Deltas start at the carried heartbeat, else at the lowest seq of the window (arrival order may vary);
    # at or below a carried seq a heartbeat is a redelivery and changes no counter.
    if not entry["anchored"] and beat["seq"] < entry["base"]["seq"]:
        entry["base"] = counters
    if beat["seq"] > entry["last"]["seq"]:
        entry["last"] = counters
        entry["interval_s"] = beat["interval_s"]
    # Liveness is arrival time: it survives gateway clock drift, and any heartbeat proves the gateway is up.
    entry["arrival"] = max(entry["arrival"], arrival)
    peak = entry["peak"]
    # Keep the heartbeat with the highest clients / max_clients (compared without division).
    if beat["max_clients"] > 0 and (
        peak is None or beat["clients"] * peak["max_clients"] > peak["clients"] * beat["max_clients"]
    ):
        entry["peak"] = {"clients": beat["clients"], "max_clients": beat["max_clients"]}


def _fold_batch(state: State, gateway: str, line: str, seq: int, arrival: float) -> None:
    sequences = state["sequences"]
    entry = sequences.get(gateway, {}).get(line)
    if entry is None:
        if sum(len(lines) for lines in sequences.values()) >= MAX_SEQUENCES:
            state["untracked"]["sequences"] += 1
            return
        sequences.setdefault(gateway, {})[line] = {
            "anchored": False,
            "low": seq,
            "high": seq,
            "gaps": [],
            "lost_untracked": 0,
            "received": 1,
            "repeats": 0,
            "arrival": arrival,
        }
        return
    entry["received"] += 1
    entry["arrival"] = max(entry["arrival"], arrival)
    if seq > entry["high"]:
        if seq > entry["high"] + 1:
            _add_gap(entry, [entry["high"] + 1, seq - 1], at_end=True)
        entry["high"] = seq
    elif seq >= entry["low"]:
        if not _fill_gap(entry, seq):
            entry["repeats"] += 1
    elif entry["anchored"]:
        entry["repeats"] += 1  # below the carried high: a redelivery
    else:
        # Out of order before the first batch this window saw: the range between is not lost (yet).
        if seq < entry["low"] - 1:
            _add_gap(entry, [seq + 1, entry["low"] - 1], at_end=False)
        entry["low"] = seq


def _add_gap(entry: dict[str, Any], gap: list[int], *, at_end: bool) -> None:
    gaps = entry["gaps"]
    if at_end:
        gaps.append(gap)
    else:
        gaps.insert(0, gap)
    if len(gaps) > MAX_GAP_RANGES:
        first, last = gaps.pop(0)
        entry["lost_untracked"] += last - first + 1


def _fill_gap(entry: dict[str, Any], seq: int) -> bool:
    """Remove ``seq`` from the open gaps; False when it was not missing (then it is a repeat)."""
    gaps = entry["gaps"]
    for index, (first, last) in enumerate(gaps):
        if first <= seq <= last:
            pieces = [piece for piece in ([first, seq - 1], [seq + 1, last]) if piece[0] <= piece[1]]
            gaps[index : index + 1] = pieces
            if len(gaps) > MAX_GAP_RANGES:
                first_kept, last_kept = gaps.pop(0)
                entry["lost_untracked"] += last_kept - first_kept + 1
            return True
    return False


# --- evaluation --------------------------------------------------------------------------------------


def evaluate(state: State, window: Window, thresholds: Thresholds, site: str) -> tuple[list[Alert], Carry]:
    """The alerts of a closing window and the carry for the next one."""
    # At an early end (state too large) the window is not over: silence counts up to the last record seen.
    as_of = _epoch(window.end)
    if window.terminated_early and state["seen_until"] is not None:
        as_of = state["seen_until"]
    alerts: list[Alert] = []
    carry: Carry = {"v": STATE_VERSION, "gateways": {}, "sequences": {}}
    for gateway, entry in sorted(state["gateways"].items()):
        alerts.extend(_gateway_alerts(gateway, entry, as_of, window, thresholds, site))
        if as_of - entry["arrival"] <= FORGET_AFTER_S:
            carry["gateways"][gateway] = {
                **entry["last"],
                "arrival": entry["arrival"],
                "interval_s": entry["interval_s"],
            }
    for gateway, lines in sorted(state["sequences"].items()):
        for line, entry in sorted(lines.items()):
            alerts.extend(_sequence_alerts(gateway, line, entry, window, thresholds, site))
            if as_of - entry["arrival"] <= FORGET_AFTER_S:
                carry["sequences"].setdefault(gateway, {})[line] = {"high": entry["high"], "arrival": entry["arrival"]}
    malformed = state["malformed"]
    if malformed["count"]:
        alerts.append(
            Alert(
                kind="malformed-records",
                site=site,
                gateway=None,
                line=None,
                summary=f"{malformed['count']} record(s) on {window.shard_id} are not valid envelope messages",
                figures={"count": malformed["count"], "records": malformed["samples"]},
                window=window,
            )
        )
    return alerts, carry


def _gateway_alerts(
    gateway: str, entry: dict[str, Any], as_of: float, window: Window, thresholds: Thresholds, site: str
) -> list[Alert]:
    def alert(kind: str, summary: str, figures: dict[str, Any]) -> Alert:
        return Alert(kind=kind, site=site, gateway=gateway, line=None, summary=summary, figures=figures, window=window)

    alerts = []
    silent_s = as_of - entry["arrival"]
    limit_s = thresholds.grace_factor * entry["interval_s"]
    if silent_s > limit_s:
        forgotten = silent_s > FORGET_AFTER_S
        alerts.append(
            alert(
                "heartbeat-missing",
                f"no heartbeat from {gateway} for {silent_s:.0f} s (limit {limit_s:.0f} s)"
                + ("; no longer tracked" if forgotten else ""),
                {
                    "last_heartbeat_at": utc_timestamp(entry["arrival"]),
                    "silent_s": round(silent_s, 3),
                    "interval_s": entry["interval_s"],
                    "grace_factor": thresholds.grace_factor,
                    "limit_s": limit_s,
                    "tracking_stopped": forgotten,
                },
            )
        )
    base, last = entry["base"], entry["last"]
    lost = last["lost"] - base["lost"]
    if lost > 0:  # a fall is a counter reset (gateway reinstalled), not a recovery
        alerts.append(
            alert(
                "data-loss",
                f"{gateway} reports {lost} lost value(s) since its previous heartbeat",
                {"source": "heartbeat", "lost": lost, "lost_total": last["lost"], "heartbeat_seq": last["seq"]},
            )
        )
    sent = last["sent"] - base["sent"]
    retransmissions = last["retransmissions"] - base["retransmissions"]
    if sent > 0 and retransmissions > 0 and retransmissions / sent > thresholds.retransmission_rate:
        alerts.append(
            alert(
                "retransmission-rate",
                f"{gateway} retransmitted {retransmissions} of {sent} messages",
                {
                    "source": "heartbeat",
                    "retransmissions": retransmissions,
                    "sent": sent,
                    "rate": retransmissions / sent,
                    "threshold": thresholds.retransmission_rate,
                },
            )
        )
    peak = entry["peak"]
    if peak is not None and peak["clients"] / peak["max_clients"] >= thresholds.client_ratio:
        alerts.append(
            alert(
                "client-count",
                f"{gateway} serves {peak['clients']} of {peak['max_clients']} clients",
                {
                    "clients": peak["clients"],
                    "max_clients": peak["max_clients"],
                    "ratio": peak["clients"] / peak["max_clients"],
                    "threshold": thresholds.client_ratio,
                },
            )
        )
    return alerts


def _sequence_alerts(
    gateway: str, line: str, entry: dict[str, Any], window: Window, thresholds: Thresholds, site: str
) -> list[Alert]:
    def alert(kind: str, summary: str, figures: dict[str, Any]) -> Alert:
        return Alert(kind=kind, site=site, gateway=gateway, line=line, summary=summary, figures=figures, window=window)

    alerts = []
    missing = entry["lost_untracked"] + sum(last - first + 1 for first, last in entry["gaps"])
    if missing and thresholds.sequence_gaps:
        alerts.append(
            alert(
                "data-loss",
                f"{missing} batch(es) of {line} from {gateway} did not arrive by the window end",
                {
                    "source": "batch_seq",
                    "missing_batches": missing,
                    "gaps": entry["gaps"][-GAPS_SHOWN:],
                    "last_batch_seq": entry["high"],
                },
            )
        )
    received, repeats = entry["received"], entry["repeats"]
    if received and repeats / received > thresholds.retransmission_rate:
        alerts.append(
            alert(
                "retransmission-rate",
                f"{repeats} of {received} batches of {line} from {gateway} were redeliveries",
                {
                    "source": "stream",
                    "repeated_batches": repeats,
                    "received_batches": received,
                    "rate": repeats / received,
                    "threshold": thresholds.retransmission_rate,
                },
            )
        )
    return alerts


def state_size(state: State) -> int:
    """Bytes of the state as Lambda stores it (the limit is 1 MB per shard)."""
    return len(json.dumps(state, separators=(",", ":")))
