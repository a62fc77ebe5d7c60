"""Fixtures of the evidence tests: the small site stack of evidence_app.py, synthesized once per run in each
version."""

from __future__ import annotations

from pathlib import Path

import pytest
from evidence_app import synthesize


@pytest.fixture(scope="session")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("traced")
    with pytest.raises(RuntimeError, match=r"Acknowledge with 'GxP::GxP-LogRetention'"):
        synthesize(outdir, revised=False)
    return outdir


@pytest.fixture(scope="session")
def revised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("revised")
    synthesize(outdir, revised=True)
    return outdir
