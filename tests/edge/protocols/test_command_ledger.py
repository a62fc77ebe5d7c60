"""The command ledger: idempotency and unpublished audit records across restarts, bounded size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.commands.ledger import CommandLedger


def audit(number: int, result: str = "applied", command_id: str | None = None) -> dict[str, Any]:
    return {
        "audit_id": f"a{number}",
        "command_id": command_id if command_id is not None else f"c{number}",
        "result": result,
        "completed_at": f"2026-01-31T08:00:{number:02d}.000Z",
    }


def test_handled_commands_and_pending_audits_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = CommandLedger(path)
    ledger.record(audit(1))
    ledger.record(audit(2, "duplicate", command_id="c1"))  # a duplicate never replaces the first outcome
    ledger.record(audit(3, "rejected", command_id=""))  # malformed: no command id to remember
    ledger.mark_published("a1")

    reopened = CommandLedger(path)
    assert reopened.outcome("c1") == audit(1)
    assert reopened.outcome("c3") is None
    assert [item["audit_id"] for item in reopened.unpublished()] == ["a2", "a3"]


def test_a_torn_last_line_loses_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    CommandLedger(path).record(audit(1))
    with path.open("a", encoding="utf-8") as file:
        file.write('{"audit": {"audit_id": "a2", "comm')  # power cut in the middle of a write
    reopened = CommandLedger(path)
    assert reopened.outcome("c1") == audit(1)
    assert [item["audit_id"] for item in reopened.unpublished()] == ["a1"]


def test_compaction_keeps_the_newest_and_every_unpublished_record(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = CommandLedger(path, capacity=3)
    ledger.record(audit(0))  # never published: must survive compaction
    for number in range(1, 6):
        ledger.record(audit(number))
        ledger.mark_published(f"a{number}")

    reopened = CommandLedger(path, capacity=3)
    assert [reopened.outcome(f"c{number}") is not None for number in range(6)] == [
        True,
        False,
        False,
        True,
        True,
        True,
    ]
    assert [item["audit_id"] for item in reopened.unpublished()] == ["a0"]
    # Rewritten when a5 arrived: 4 audits and the markers of a3, a4; then a5's marker was appended.
    assert len(path.read_text(encoding="utf-8").splitlines()) == 7
