"""Tag map files: the example loads, and every kind of mistake is rejected with an exact, actionable message."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE

from edge.pipeline.tag_map import SCHEMA_PATH, TagMap, TagMapError, json_schema, load_tag_map, parse_tag_map

UNITS = {"temperature": "degC", "pressure": "bar", "flow": "m3/h", "length": "mm", "mass": "kg"}
STATE = {"source": "simulator", "address": "state:filler", "path": "filling/line1/filler/state", "kind": "state"}
BASE: dict[str, Any] = {"enterprise": "acme", "site": "plantA", "gateway": "gw1", "tags": [STATE]}


def problems(change: dict[str, Any] | None = None, *, tag: dict[str, Any] | None = None) -> list[str]:
    """The messages for BASE with top-level ``change`` and/or one extra analog ``tag``."""
    data = copy.deepcopy(BASE) | (change or {})
    if tag is not None:
        data["tags"] = [*data["tags"], {"source": "simulator", "address": "analog:f:mean=1", "path": "a/l/c/t"} | tag]
    with pytest.raises(TagMapError) as caught:
        parse_tag_map(data, origin="gw1.yaml", canonical_units=UNITS)
    return str(caught.value).splitlines()


def test_the_example_has_the_oee_tags_of_filling_line1(example_map: TagMap) -> None:
    paths = {example_map.tag_path(tag) for tag in example_map.tags}
    assert {
        "acme/plantA/filling/line1/filler/state",
        "acme/plantA/filling/line1/filler/good_count",
        "acme/plantA/filling/line1/filler/total_count",
    } <= paths
    assert (example_map.enterprise, example_map.site, example_map.gateway) == ("acme", "plantA", "plantA-gw-01")
    assert example_map.addresses("simulator")[:3] == ["state:filler", "good:filler", "total:filler"]
    assert example_map.settings("simulator") == {"seed": 7, "scan_interval_s": 0.5}
    assert example_map.settings("opcua") == {}


def test_an_unknown_key_names_it_and_the_schema() -> None:
    assert problems(tag={"adress": "x"}) == [
        "gw1.yaml: tags[1].adress: is not a known field (got 'x'); "
        "fix: remove it or check its spelling against edge/pipeline/tag-map.schema.json"
    ]
    assert problems({"gateways": ["gw2"]}) == [
        "gw1.yaml: gateways: is not a known field (got ['gw2']); "
        "fix: remove it or check its spelling against edge/pipeline/tag-map.schema.json"
    ]


def test_a_path_must_be_area_line_cell_tag() -> None:
    assert problems(tag={"path": "filling/line1/filler"}) == [
        "gw1.yaml: tags[1].path: 'filling/line1/filler' is not area/line/cell/tag (four segments of letters, "
        "digits, '_', '.', '-'); fix: write e.g. filling/line1/filler/temperature"
    ]


def test_the_source_must_be_one_we_have() -> None:
    assert problems(tag={"source": "plc"}) == [
        "gw1.yaml: tags[1].source: Input should be 'simulator', 'opcua' or 'modbus' (got 'plc'); "
        "fix: use one of the values shown"
    ]
    assert problems({"sources": {"s7": {}}}) == [
        "gw1.yaml: sources.s7 (key): Input should be 'simulator', 'opcua' or 'modbus' (got 's7'); "
        "fix: use one of the values shown"
    ]


def test_deadbands_belong_to_analog_tags() -> None:
    assert problems(tag={"kind": "counter", "deadband_pct": 5}) == [
        "gw1.yaml: tags[1]: deadband_pct 5.0 applies to analog tags only, and this tag is a counter "
        "(reported on every change); fix: remove deadband_pct or set kind: analog"
    ]


def test_paths_and_addresses_are_unique() -> None:
    assert problems({"tags": [STATE, STATE]}) == [
        "gw1.yaml: tags[1].path 'filling/line1/filler/state' repeats tags[0].path; fix: give every tag its own path",
        "gw1.yaml: tags[1].address 'state:filler' repeats tags[0].address; fix: give every tag its own address",
    ]


def test_an_unknown_conversion_fails_at_load_time() -> None:
    assert problems(tag={"quantity": "temperature", "unit": "degR"}) == [
        "gw1.yaml: tags[1].unit: no conversion from 'degR' to 'degC' for temperature; "
        "fix: use a temperature unit the gateway converts: degC, degF, K"
    ]
    assert problems(tag={"quantity": "pressure", "unit": "degF"}) == [
        "gw1.yaml: tags[1].unit: no conversion from 'degF' to 'bar' for pressure; "
        "fix: use a pressure unit the gateway converts: bar, mbar, Pa, kPa, MPa, psi, atm"
    ]


def test_a_quantity_needs_a_canonical_unit_and_a_source_unit() -> None:
    assert problems(tag={"quantity": "speed", "unit": "rpm"}) == [
        "gw1.yaml: tags[1].quantity: 'speed' has no canonical unit in site plantA (it has: temperature, pressure, "
        "flow, length, mass); fix: use one of those, or add speed to edge.canonical_units of the site file"
    ]
    assert problems(tag={"quantity": "temperature"}) == [
        "gw1.yaml: tags[1]: quantity 'temperature' needs the source unit; fix: set unit, e.g. unit: degC"
    ]


def test_numbers_and_required_fields() -> None:
    assert problems(tag={"max_interval_s": 0}) == [
        "gw1.yaml: tags[1].max_interval_s: Input should be greater than 0 (got 0); fix: use a larger number"
    ]
    assert problems({"tags": []}) == [
        "gw1.yaml: tags: List should have at least 1 item after validation, not 0 (got []); fix: list at least one tag"
    ]
    data = copy.deepcopy(BASE)
    del data["gateway"]
    with pytest.raises(TagMapError, match=r"^gw1\.yaml: gateway: Field required; fix: add it"):
        parse_tag_map(data, origin="gw1.yaml", canonical_units=UNITS)


def test_every_problem_is_reported_at_once() -> None:
    assert len(problems({"site": "plant A"}, tag={"source": "plc", "kind": "gauge"})) == 3


def test_file_level_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("enterprise: acme\ntags: [\n", encoding="utf-8")
    with pytest.raises(TagMapError, match=r"broken\.yaml: is not valid YAML at line 3, column 1: .*fix: correct"):
        load_tag_map(broken, canonical_units=UNITS)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TagMapError, match=r"empty\.yaml: is empty; fix: describe the gateway's tags"):
        load_tag_map(empty, canonical_units=UNITS)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n", encoding="utf-8")
    with pytest.raises(TagMapError, match=r"list\.yaml: must be a mapping of fields, got list"):
        load_tag_map(listing, canonical_units=UNITS)
    with pytest.raises(TagMapError, match=r"missing\.yaml: cannot be read \(No such file or directory\)"):
        load_tag_map(tmp_path / "missing.yaml", canonical_units=UNITS)


def test_the_committed_schema_is_current_and_the_example_uses_it() -> None:
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == json_schema(), (
        "edge/pipeline/tag-map.schema.json is stale; fix: python -m edge.pipeline.tag_map"
    )
    assert EXAMPLE.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../tag-map.schema.json")
