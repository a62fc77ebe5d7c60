"""Shared fixtures: example sites, and one in-process synth of every example site."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _no_real_aws() -> None:
    """No test may reach AWS: fake credentials and a default region, set before any client exists."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="eu-central-1",
    )
    os.environ.pop("AWS_PROFILE", None)
