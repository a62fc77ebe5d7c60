"""The change record of a synthesized version of a site: what was built, from which commit, what the gate
decided, and what changed since the previous record.

One JSON file per version in a folder the user chooses (default ``cdk.out/compliance/records/<site>/``; keep it
somewhere that outlives ``make clean``). A record holds the site and its stack, the git commit and whether the
working tree had uncommitted changes, the sha256 of each template (the stack's and its nested stacks': asset
hashes are in them, so changed code changes a template), each pack's conclusion and acknowledgment count, and
every acknowledgment with its reason. ``changes`` compares it with the newest earlier record of the folder:
acknowledgments added, removed or reworded (keyed by pack, rule and resource) and templates added, removed or
changed. A synth identical to the newest record (everything but the time) writes no new file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tooling.evidence import StackEvidence, stack_templates

Record = dict[str, Any]
# What a record holds besides the version itself.
_NOT_THE_VERSION = ("created", "changes")


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout at ``root``; (None, None) outside a git checkout."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode != 0:
        return None, None
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    return head.stdout.strip(), bool(status.stdout.strip())


def build(
    evidence: StackEvidence,
    assembly: Path,
    *,
    site: str,
    commit: str | None,
    dirty: bool | None,
    created: datetime,
) -> Record:
    """The record of one stack as synthesized in ``assembly`` (without ``changes``: see ``with_changes``)."""
    acknowledged: dict[str, int] = {}
    for item in evidence.acknowledgments:
        acknowledged[item["pack"]] = acknowledged.get(item["pack"], 0) + 1
    return {
        "site": site,
        "stack": evidence.stack,
        "created": created.astimezone(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "templates": {path.name: _sha256(path) for path in stack_templates(assembly, evidence.stack)},
        "packs": {
            pack: {"conclusion": conclusion, "acknowledged": acknowledged.get(pack, 0)}
            for pack, conclusion in evidence.packs.items()
        },
        "acknowledgments": sorted(
            evidence.acknowledgments, key=lambda item: (item["pack"], item["rule"], item["path"])
        ),
    }


def changes(previous: Record | None, current: Record, previous_name: str | None = None) -> Record:
    """What changed from ``previous`` (the newest earlier record, None for the first) to ``current``."""
    before = {_key(item): item for item in previous["acknowledgments"]} if previous else {}
    after = {_key(item): item for item in current["acknowledgments"]}
    old_templates: dict[str, str] = previous["templates"] if previous else {}
    new_templates: dict[str, str] = current["templates"]
    return {
        "previous": previous_name,
        "acknowledgments_added": [after[key] for key in after if key not in before],
        "acknowledgments_removed": [before[key] for key in before if key not in after],
        "acknowledgments_reworded": [
            {**after[key], "previous_reason": before[key]["reason"]}
            for key in after
            if key in before and before[key]["reason"] != after[key]["reason"]
        ],
        "templates_added": sorted(set(new_templates) - set(old_templates)),
        "templates_removed": sorted(set(old_templates) - set(new_templates)),
        "templates_changed": sorted(
            name for name in new_templates if name in old_templates and old_templates[name] != new_templates[name]
        ),
    }


def newest(folder: Path) -> tuple[Path, Record] | None:
    """The newest record in ``folder`` by its ``created`` time, or None when there is none."""
    records = [(path, read(path)) for path in folder.glob("*.json")] if folder.is_dir() else []
    return max(records, key=lambda item: item[1]["created"], default=None)


def write(folder: Path, record: Record) -> tuple[Path, bool]:
    """Adds ``changes`` against the newest earlier record and writes ``record`` into ``folder``, unless the
    newest record is the same version. Returns (the record's file, whether it was written now)."""
    latest = newest(folder)
    if latest is not None and _version(latest[1]) == _version(record):
        return latest[0], False
    record = {**record, "changes": changes(latest[1] if latest else None, record, latest[0].name if latest else None)}
    stamp = datetime.fromisoformat(record["created"]).strftime("%Y%m%dT%H%M%SZ")
    commit = (record["commit"] or "no-commit")[:12] + ("-dirty" if record["dirty"] else "")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp}-{commit}.json"
    with path.open("x", encoding="utf-8") as handle:  # a record is never overwritten
        handle.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path, True


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(acknowledgment: dict[str, str]) -> tuple[str, str, str]:
    return acknowledgment["pack"], acknowledgment["rule"], acknowledgment["path"]


def _version(record: Record) -> Record:
    return {key: value for key, value in record.items() if key not in _NOT_THE_VERSION}


def read(path: Path) -> Record:
    """A record as written."""
    data: Record = json.loads(path.read_text(encoding="utf-8"))
    return data
