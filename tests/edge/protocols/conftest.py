"""Fixtures of the protocol tests; the peers themselves live in protocol_peers."""

from __future__ import annotations

import pytest
from protocol_peers import Pki, free_port, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def port() -> int:
    return free_port()
