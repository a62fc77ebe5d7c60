"""tooling.evidence_record: change records of two real versions of the small site stack (evidence_app.py):
the second removes one acknowledgment (the scratch bucket is versioned now), adds one (the log group) and
changes a template."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from evidence_app import LOG_GROUP, LOG_REASON, SCRATCH, SCRATCH_REASON, STACK

from policies import PACK_NAMES
from tooling import evidence_record
from tooling.evidence import collect

pytestmark = pytest.mark.synth

FIRST = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SECOND = FIRST + timedelta(days=1)
COMMIT_1 = "1" * 40
COMMIT_2 = "2" * 40
TEMPLATES = ["plantT.template.json", "plantTInner2B12204F.nested.template.json"]


def record_of(assembly: Path, *, commit: str, dirty: bool, created: datetime) -> evidence_record.Record:
    return evidence_record.build(
        collect(assembly)[STACK], assembly, site=STACK, commit=commit, dirty=dirty, created=created
    )


def test_a_record_holds_the_version_the_gate_saw(traced: Path) -> None:
    record = record_of(traced, commit=COMMIT_1, dirty=True, created=FIRST)
    assert sorted(record) == ["acknowledgments", "commit", "created", "dirty", "packs", "site", "stack", "templates"]
    assert (record["site"], record["stack"], record["commit"], record["dirty"]) == (STACK, STACK, COMMIT_1, True)
    assert record["created"] == "2026-12-01T09:30:00+00:00"
    assert record["templates"] == {name: hashlib.sha256((traced / name).read_bytes()).hexdigest() for name in TEMPLATES}
    assert record["packs"] == {
        "AwsSolutions": {"conclusion": "success", "acknowledged": 2},
        "HIPAA.Security": {"conclusion": "success", "acknowledged": 5},
        "NIST.800.53.R5": {"conclusion": "success", "acknowledged": 5},
        "PCI.DSS.321": {"conclusion": "success", "acknowledged": 5},
        "GxP": {"conclusion": "failure", "acknowledged": 1},
        "Residency": {"conclusion": "success", "acknowledged": 0},
    }
    assert list(record["packs"]) == list(PACK_NAMES)
    assert {"pack": "GxP", "rule": "GxP::GxP-S3Versioned", "path": SCRATCH, "reason": SCRATCH_REASON} in record[
        "acknowledgments"
    ]
    keys = [(item["pack"], item["rule"], item["path"]) for item in record["acknowledgments"]]
    assert keys == sorted(keys)


def test_the_first_record_has_no_previous_and_adds_every_acknowledgment(traced: Path, tmp_path: Path) -> None:
    record = record_of(traced, commit=COMMIT_1, dirty=False, created=FIRST)
    path, written = evidence_record.write(tmp_path / "records", record)
    assert (path.name, written) == ("20261201T093000Z-111111111111.json", True)
    changes = evidence_record.read(path)["changes"]
    assert changes["previous"] is None
    assert changes["acknowledgments_added"] == record["acknowledgments"]
    assert changes["templates_added"] == sorted(TEMPLATES)
    assert (changes["acknowledgments_removed"], changes["templates_changed"]) == ([], [])


def test_the_next_record_names_what_was_added_removed_and_changed(traced: Path, revised: Path, tmp_path: Path) -> None:
    folder = tmp_path / "records" / STACK
    first, _ = evidence_record.write(folder, record_of(traced, commit=COMMIT_1, dirty=True, created=FIRST))
    second, written = evidence_record.write(folder, record_of(revised, commit=COMMIT_2, dirty=False, created=SECOND))
    assert (first.name, second.name, written) == (
        "20261201T093000Z-111111111111-dirty.json",
        "20261202T093000Z-222222222222.json",
        True,
    )
    changes = evidence_record.read(second)["changes"]
    assert changes["previous"] == first.name
    assert changes["acknowledgments_added"] == [
        {"pack": "GxP", "rule": "GxP::GxP-LogRetention", "path": LOG_GROUP, "reason": LOG_REASON}
    ]
    # The scratch bucket is versioned now: its versioning acknowledgments, in every pack that had one, are gone.
    assert changes["acknowledgments_removed"] == [
        {"pack": pack, "rule": f"{pack}::{pack}-{rule}", "path": SCRATCH, "reason": SCRATCH_REASON}
        for pack, rule in (
            ("GxP", "S3Versioned"),
            ("HIPAA.Security", "S3BucketVersioningEnabled"),
            ("NIST.800.53.R5", "S3BucketVersioningEnabled"),
            ("PCI.DSS.321", "S3BucketVersioningEnabled"),
        )
    ]
    assert changes["templates_changed"] == ["plantT.template.json"]  # the bucket's versioning
    assert (changes["templates_added"], changes["templates_removed"], changes["acknowledgments_reworded"]) == (
        [],
        [],
        [],
    )
    assert evidence_record.read(second)["packs"]["GxP"] == {"conclusion": "success", "acknowledged": 1}


def test_the_diff_is_against_the_newest_earlier_record(traced: Path, revised: Path, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    assert evidence_record.newest(folder) is None  # no folder yet
    evidence_record.write(folder, record_of(traced, commit=COMMIT_1, dirty=False, created=FIRST))
    middle, _ = evidence_record.write(folder, record_of(revised, commit=COMMIT_1, dirty=False, created=SECOND))
    last, _ = evidence_record.write(
        folder, record_of(traced, commit=COMMIT_2, dirty=False, created=SECOND + timedelta(days=1))
    )
    assert evidence_record.newest(folder) == (last, evidence_record.read(last))
    changes = evidence_record.read(last)["changes"]
    assert changes["previous"] == middle.name  # not the first record, which holds the same acknowledgments
    assert [item["rule"] for item in changes["acknowledgments_added"]] == [
        "GxP::GxP-S3Versioned",
        *(f"{pack}::{pack}-S3BucketVersioningEnabled" for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")),
    ]
    assert [item["rule"] for item in changes["acknowledgments_removed"]] == ["GxP::GxP-LogRetention"]


def test_a_reworded_reason_is_reported_with_the_previous_one(revised: Path) -> None:
    current = record_of(revised, commit=COMMIT_2, dirty=False, created=SECOND)
    previous = json.loads(json.dumps(current))
    (log,) = [item for item in previous["acknowledgments"] if item["path"] == LOG_GROUP]
    log["reason"] = "An earlier wording of the same acknowledgment, kept for the comparison only."
    changes = evidence_record.changes(previous, current, "earlier.json")
    assert changes["acknowledgments_reworded"] == [
        {
            "pack": "GxP",
            "rule": "GxP::GxP-LogRetention",
            "path": LOG_GROUP,
            "reason": LOG_REASON,
            "previous_reason": log["reason"],
        }
    ]
    assert (changes["acknowledgments_added"], changes["acknowledgments_removed"]) == ([], [])


def test_the_same_version_again_writes_no_new_record(revised: Path, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    first, _ = evidence_record.write(folder, record_of(revised, commit=COMMIT_2, dirty=False, created=FIRST))
    again, written = evidence_record.write(folder, record_of(revised, commit=COMMIT_2, dirty=False, created=SECOND))
    assert (again, written) == (first, False)
    assert [path.name for path in folder.iterdir()] == [first.name]
    # The same templates from a commit of their own are a new version: the commit is part of it.
    other, written = evidence_record.write(folder, record_of(revised, commit=COMMIT_1, dirty=False, created=SECOND))
    assert written and evidence_record.read(other)["changes"]["templates_changed"] == []


def test_git_state_names_the_commit_and_whether_the_tree_is_dirty(tmp_path: Path) -> None:
    assert evidence_record.git_state(tmp_path) == (None, None)  # not a checkout
    identity = ["-c", "user.name=QA", "-c", "user.email=qa@example.com"]

    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", str(tmp_path), *identity, *args], capture_output=True, text=True, check=True)
        return run.stdout.strip()

    git("init", "--quiet")
    (tmp_path / "site.yaml").write_text("id: plantT\n")
    git("add", "site.yaml")
    git("commit", "--quiet", "-m", "a site")
    commit = git("rev-parse", "HEAD")
    assert evidence_record.git_state(tmp_path) == (commit, False)
    (tmp_path / "site.yaml").write_text("id: plantU\n")
    assert evidence_record.git_state(tmp_path) == (commit, True)
