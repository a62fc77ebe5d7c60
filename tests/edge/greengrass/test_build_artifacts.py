"""The artifact build: deterministic bytes, content-derived versions, only what a gateway needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from component_configs import UNITS

from edge.greengrass.build_artifacts import ROOT, build

SOURCES = ("edge", "envelope", "validation")
MODULES = ("ml/__init__.py", "ml/model_card.py")  # of ml, only the model card parser ships


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """A copy of the packages the artifact holds, to change without touching the repository."""
    root = tmp_path / "src"
    for package in SOURCES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    for module in MODULES:
        (root / module).parent.mkdir(exist_ok=True)
        shutil.copyfile(ROOT / module, root / module)
    return root


def test_same_sources_give_the_same_bytes_and_versions(source_tree: Path, tmp_path: Path) -> None:
    first = build(tmp_path / "one", site_id="plantA", canonical_units=UNITS, root=source_tree)
    (source_tree / "edge" / "readings.py").touch()  # a new modification time changes nothing
    second = build(tmp_path / "two", site_id="plantA", canonical_units=UNITS, root=source_tree)
    assert [(c.component_name, c.version) for c in first] == [(c.component_name, c.version) for c in second]
    for one, two in zip(first, second, strict=True):
        assert one.zip_path.read_bytes() == two.zip_path.read_bytes()
        assert one.zip_path.parent.name == f"{one.component_name}-{one.version}"


def test_a_changed_source_or_site_gives_a_new_version(source_tree: Path, tmp_path: Path) -> None:
    before = {
        c.component_name: c.version
        for c in build(tmp_path / "a", site_id="plantA", canonical_units=UNITS, root=source_tree)
    }
    other_site = {
        c.component_name: c.version
        for c in build(tmp_path / "b", site_id="plantB", canonical_units=UNITS, root=source_tree)
    }
    readings = source_tree / "edge" / "readings.py"
    readings.write_text(readings.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    after = {
        c.component_name: c.version
        for c in build(tmp_path / "c", site_id="plantA", canonical_units=UNITS, root=source_tree)
    }
    for name, version in before.items():
        assert other_site[name] != version
        assert after[name] != version


def test_the_zip_holds_the_packages_without_tests_or_caches(source_tree: Path, tmp_path: Path) -> None:
    (source_tree / "edge" / "tests").mkdir()
    (source_tree / "edge" / "tests" / "test_x.py").write_text("assert True\n", encoding="utf-8")
    (source_tree / "edge" / "__pycache__").mkdir()
    (source_tree / "edge" / "__pycache__" / "readings.cpython-311.pyc").write_bytes(b"\0")
    (component, *_) = build(tmp_path, site_id="plantA", canonical_units=UNITS, root=source_tree)
    with zipfile.ZipFile(component.zip_path) as archive:
        entries = archive.infolist()
    names = [entry.filename for entry in entries]
    assert names == sorted(names)
    assert {
        "edge/requirements.txt",
        "edge/greengrass/tag_pipeline.py",
        "envelope/tag_envelope.py",
        "validation/__init__.py",
        "validation/messages.py",
    } <= set(names)
    assert not [name for name in names if "tests/" in name or name.endswith(".pyc")]
    assert "edge/run_local.py" not in names and "edge/pipeline/local_mosquitto.py" not in names
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {name.split("/")[0] for name in names} == {*SOURCES, "ml"}
    assert [name for name in names if name.startswith("ml/")] == list(MODULES)


# A fresh interpreter whose path holds only the unpacked artifact and the installed packages (edge/requirements.txt).
PROBE = """
import sys
sys.path[:] = [p for p in sys.path if p not in ("", {root!r})]
sys.path.insert(0, {unpacked!r})
import edge.greengrass.tag_pipeline, edge.greengrass.command_handler, edge.inference.stage
from edge.greengrass.config import ConfigurationError, TagPipelineConfig, parse
try:
    parse(TagPipelineConfig, {{"site_id": "plantA", "transport": "mqtt", "canonical_units": {{}}, "tag_map": {{}}}})
except ConfigurationError as error:
    print(*error.problems, sep="\\n")
outside = {{"factory_constructs", "site_model", "stacks", "aws_cdk"}}
print(sorted(name for name in sys.modules if name.split(".")[0] in outside))
print(sorted({{module.__file__.startswith({unpacked!r}) for name, module in sys.modules.items()
             if name.split(".")[0] in ("edge", "envelope", "validation", "ml") and getattr(module, "__file__", None)}}))
"""


def test_the_components_run_from_the_unpacked_artifact_alone(tmp_path: Path) -> None:
    (component, *_) = build(tmp_path / "out", site_id="plantA", canonical_units=UNITS)
    unpacked = tmp_path / "dmc_edge"
    with zipfile.ZipFile(component.zip_path) as archive:
        archive.extractall(unpacked)

    probe = PROBE.format(root=str(ROOT), unpacked=str(unpacked))
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "tag_map: is not a known field (got {}); fix: remove the key or correct its spelling",
        "[]",  # nothing of the CDK side
        "[True]",  # every project module came from the artifact
    ]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"site_id": "Plant A"}, "site_id 'Plant A' is not a site id; fix: pass the site model's Site.id, e.g. plantA"),
        ({"transport": "kinesis"}, "transport 'kinesis' is not mqtt or stream-manager; fix: pass site.edge.transport"),
        ({"canonical_units": {}}, "canonical_units is empty; fix: pass site.edge.canonical_units"),
        (
            {"components": ["historian"]},
            "components ['historian'] are unknown; fix: use ['command-handler', 'tag-pipeline']",
        ),
    ],
)
def test_bad_build_arguments_are_named(tmp_path: Path, arguments: dict, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        build(tmp_path, **{"site_id": "plantA", "canonical_units": UNITS, **arguments})
    assert str(caught.value) == problem
