"""make scan: checkov over every example site is clean, and what it would let through it does not."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies.acknowledge import AcknowledgmentError
from policies.scan_acknowledgments import ACKNOWLEDGED, ScanAcknowledgment
from synth_helpers import example_sites
from tooling.scan import Failure, checkov_failures, judge


@pytest.fixture(scope="module")
def example_scans(site_stack: Callable[[str], Any]) -> dict[str, tuple[int, list[Failure]]]:
    return {site_id: checkov_failures(Path(site_stack(site_id).node.root.outdir)) for site_id in example_sites()}


def test_every_example_site_scans_clean(example_scans: dict[str, tuple[int, list[Failure]]]) -> None:
    passed = sum(scan[0] for scan in example_scans.values())
    failures = [failure for scan in example_scans.values() for failure in scan[1]]
    result = judge(passed, failures)
    assert result.passed > 100 * len(example_scans), "checkov read the nested templates"
    assert [str(failure) for failure in result.unacknowledged] == []
    assert [stale.check for stale in result.stale] == []


def test_a_failed_check_without_its_acknowledgment_fails(tmp_path: Path) -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Plain": {"Type": "AWS::S3::Bucket", "Properties": {}}},
    }
    (tmp_path / "Loose.template.json").write_text(json.dumps(template))
    passed, failures = checkov_failures(tmp_path)

    result = judge(passed, failures)

    assert not result.clean
    assert any(failure.resource == "AWS::S3::Bucket.Plain" for failure in result.unacknowledged)
    assert "CKV_AWS_18" in {failure.check for failure in result.unacknowledged}, "access logging is checked"
    assert result.stale == list(ACKNOWLEDGED), "none of the project's acknowledgments matches this template"


def test_an_acknowledgment_covers_only_its_check_and_resources() -> None:
    failure = Failure("CKV_AWS_18", "access logging", "AWS::S3::Bucket.AccessLogsBucketCD784A59", "t.json")
    other_bucket = Failure("CKV_AWS_18", "access logging", "AWS::S3::Bucket.LakeRawBucket28F84711", "t.json")
    other_check = Failure("CKV_AWS_21", "versioning", "AWS::S3::Bucket.AccessLogsBucketCD784A59", "t.json")

    result = judge(10, [failure, other_bucket, other_check])

    assert result.unacknowledged == [other_bucket, other_check]


def test_an_acknowledgment_needs_a_real_reason() -> None:
    with pytest.raises(AcknowledgmentError, match="too short"):
        ScanAcknowledgment("CKV_AWS_18", re.compile(r"AWS::S3::Bucket\..*"), "not needed")
