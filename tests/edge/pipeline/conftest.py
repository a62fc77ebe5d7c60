"""Fixtures of the pipeline tests: certificates, a mosquitto with mutual TLS, a recording subscriber."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mqtt_peers import GATEWAY, RECORDER, Recorder

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki, make_pki
from edge.pipeline.tag_map import TagMap, load_tag_map
from site_model import load_site

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "edge" / "pipeline" / "examples" / "plantA-gw-01.yaml"


@pytest.fixture(scope="session")
def canonical_units() -> dict[str, str]:
    """plantA's canonical units, from its site file."""
    return dict(load_site(ROOT / "tenants" / "plantA.yaml").edge.canonical_units)


@pytest.fixture(scope="session")
def example_map(canonical_units: dict[str, str]) -> TagMap:
    return load_tag_map(EXAMPLE, canonical_units=canonical_units)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, the broker's certificate and client certificates for the gateway and the recorder."""
    return make_pki(tmp_path_factory.mktemp("pki"), [GATEWAY, RECORDER])


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[LocalMosquitto]:
    """mosquitto on a free 127.0.0.1 port, requiring client certificates signed by the test CA."""
    with LocalMosquitto(tmp_path / "broker", pki) as running:
        yield running


@pytest.fixture
def recorder(broker: LocalMosquitto, pki: Pki) -> Iterator[Recorder]:
    with Recorder(broker, pki) as subscriber:
        yield subscriber
