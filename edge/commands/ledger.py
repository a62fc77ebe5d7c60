"""The command handler's durable memory: which commands it handled, and which audit records still wait for the cloud.

A JSON Lines file in the component's work folder. Each handled command adds
``{"audit": {...}}``; each audit record the cloud confirmed adds
``{"published": "<audit_id>"}``. Read back at start-up, it answers two
questions across restarts: "was this command id handled already?" (MQTT
delivers at least once, and a redelivered setpoint must not be written again)
and "which audit records were never published?" (they are sent again).

Lines are flushed and synced before ``record`` returns. When the file holds
twice ``capacity`` audits it is rewritten with the newest ``capacity`` ones plus
every unpublished one, so it stays bounded; the authoritative audit trail is the
cloud's (the raw zone), this file only bridges outages.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CommandLedger:
    """Handled commands by id, and unpublished audit records, persisted in one file."""

    def __init__(self, path: Path, *, capacity: int = 10_000) -> None:
        self._path = path
        self._capacity = capacity
        self._audits: dict[str, dict[str, Any]] = {}  # audit_id -> record, oldest first
        self._by_command: dict[str, str] = {}  # command_id -> audit_id of its first handling
        self._published: set[str] = set()
        self._load()

    def outcome(self, command_id: str) -> dict[str, Any] | None:
        """The audit record of the first handling of ``command_id``, if it was handled."""
        audit_id = self._by_command.get(command_id)
        return None if audit_id is None else self._audits[audit_id]

    def record(self, audit: dict[str, Any]) -> None:
        """Remember one audit record durably (and its command id, if it has one)."""
        self._add(audit)
        self._append({"audit": audit})
        if len(self._audits) >= 2 * self._capacity:
            self._compact()

    def mark_published(self, audit_id: str) -> None:
        """The cloud has this audit record: it need not be sent again."""
        self._published.add(audit_id)
        self._append({"published": audit_id})

    def unpublished(self) -> list[dict[str, Any]]:
        """Audit records not yet confirmed by the cloud, oldest first."""
        return [audit for audit_id, audit in self._audits.items() if audit_id not in self._published]

    def _add(self, audit: dict[str, Any]) -> None:
        self._audits[audit["audit_id"]] = audit
        command_id = audit.get("command_id")
        if command_id and audit["result"] != "duplicate":
            self._by_command.setdefault(command_id, audit["audit_id"])

    def _append(self, line: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(line, separators=(",", ":")) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _load(self) -> None:
        if not self._path.exists():
            return
        with self._path.open(encoding="utf-8") as file:
            for number, text in enumerate(file, start=1):
                try:
                    line = json.loads(text)
                    if "audit" in line:
                        self._add(line["audit"])
                    else:
                        self._published.add(line["published"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    # A torn last line after a power cut: everything before it is intact.
                    log.warning("%s line %d is unreadable and skipped", self._path, number)

    def _compact(self) -> None:
        ids = list(self._audits)
        keep = set(ids[-self._capacity :]) | {audit_id for audit_id in ids if audit_id not in self._published}
        audits = [self._audits[audit_id] for audit_id in ids if audit_id in keep]
        self._audits, self._by_command, self._published = {}, {}, self._published & keep
        for audit in audits:
            self._add(audit)
        lines = [{"audit": audit} for audit in audits] + [{"published": audit_id} for audit_id in self._published]
        staging = self._path.with_suffix(".compacting")
        with staging.open("w", encoding="utf-8") as file:
            file.writelines(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staging, self._path)  # atomic: a crash leaves either the old file or the new one
