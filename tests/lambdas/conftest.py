"""Fixtures of the Lambda handler tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto_alerts import AlertAws, alert_world


@pytest.fixture
def alert_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertAws]:
    """The stream alerts handler's AWS world in moto, with fake credentials set before any client exists."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with alert_world() as (world, environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield world
