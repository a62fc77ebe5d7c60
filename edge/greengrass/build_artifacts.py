"""Greengrass artifacts and recipes of the edge components, built deterministically at synth time.

The CDK app calls, once per site::

    from edge.greengrass.build_artifacts import build, recipe_with_artifact_uri

    for component in build(out_dir, site_id=site.id, transport=site.edge.transport,
                           canonical_units=site.edge.canonical_units,
                           components=site.edge.components):
        asset = s3_assets.Asset(scope, ..., path=str(component.zip_path))
        recipe = recipe_with_artifact_uri(component.recipe, asset.s3_object_url)
        greengrassv2.CfnComponentVersion(scope, ..., inline_recipe=Stack.of(scope).to_json_string(recipe))
        asset.grant_read(<the site's token exchange role>)          # the core downloads the artifact

Each component's artifact is one zip, ``dmc_edge.zip``: the ``edge`` package
(without tests or caches), the ``envelope`` package, the ``validation``
package (how configuration problems read) and, of the ``ml`` package, only the
model card parser (``ml/model_card.py``, how the model stage reads a card; the
training code stays behind), with ``edge/requirements.txt`` inside. Entries are
sorted, timestamps and permissions fixed, so the same sources give the same
bytes. The version is
``1.0.<n>``, ``n`` from the SHA-256 of the zip and the recipe: the same content
keeps its version (a deployment is a no-op), any change gets a new one.

The recipes under ``recipes/`` are templates; ``build`` fills them for one site.
Their artifact URI is a placeholder until ``recipe_with_artifact_uri`` sets the
real one: the nucleus unpacks a zip into a folder named after the object's file
name, so the helper also points the lifecycle commands at that folder.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = Path(__file__).with_name("recipes")
ARTIFACT_NAME = "dmc_edge.zip"
PLACEHOLDER_URI = f"s3://dmc-artifact-placeholder/{ARTIFACT_NAME}"
COMPONENTS = {"tag-pipeline": "com.dmc.TagPipeline", "command-handler": "com.dmc.CommandHandler"}
STREAM_MANAGER = "aws.greengrass.StreamManager"

_PACKAGES = ("edge", "envelope", "validation")  # top-level packages the edge code imports
_MODULES = ("ml/__init__.py", "ml/model_card.py")  # single modules it imports from other packages
_SUFFIXES = {".py", ".txt", ".json", ".yaml"}  # code, requirements, schemas, example tag maps
_EXCLUDED_PARTS = {"__pycache__", "tests"}
# Development entry points for this machine (make edge-run): they need the repo's site model and mosquitto.
_EXCLUDED_FILES = {"edge/run_local.py", "edge/pipeline/local_mosquitto.py"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_FOLDER = "{artifacts:decompressedPath}/" + ARTIFACT_NAME.removesuffix(".zip")
_SITE = "@SITE@"


class ComponentBuild(NamedTuple):
    """One built component; unpacks as ``(component_name, version, zip_path, recipe)``."""

    component_name: str
    version: str
    zip_path: Path
    recipe: dict[str, Any]


def artifact_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    """(name in the zip, file) of everything the components need, sorted by name."""
    files = []
    for package in _PACKAGES:
        for path in (root / package).rglob("*"):
            relative = path.relative_to(root)
            if (
                path.is_file()
                and path.suffix in _SUFFIXES
                and not _EXCLUDED_PARTS.intersection(relative.parts)
                and relative.as_posix() not in _EXCLUDED_FILES
            ):
                files.append((relative.as_posix(), path))
    files += [(name, root / name) for name in _MODULES]
    return sorted(files)


def zip_bytes(files: Iterable[tuple[str, Path]]) -> bytes:
    """A zip of ``files`` that depends only on their names and contents."""
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w") as archive:
        for name, path in files:
            entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16  # rw-r--r--, whatever the checkout's umask
            entry.create_system = 3  # unix, whichever system builds it
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    return target.getvalue()


def component_version(archive: bytes, recipe: Mapping[str, Any]) -> str:
    """``1.0.<n>`` from the content: the artifact and the recipe without its version and artifact URI."""
    template = copy.deepcopy(dict(recipe))
    template.pop("ComponentVersion", None)
    digest = hashlib.sha256(archive + json.dumps(template, sort_keys=True).encode()).hexdigest()
    # 7 hex digits: far below 2**31, the largest part some semver parsers accept.
    return f"1.0.{int(digest[:7], 16)}"


def _replace_site(value: Any, site_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(_SITE, site_id)
    if isinstance(value, dict):
        return {key: _replace_site(item, site_id) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_site(item, site_id) for item in value]
    return value


def recipe_for(
    component_name: str, *, site_id: str, transport: str, canonical_units: Mapping[str, str]
) -> dict[str, Any]:
    """The recipe of one component for one site, version still ``0.0.0``, artifact URI still the placeholder."""
    template = yaml.safe_load((RECIPES / f"{component_name}.yaml").read_text(encoding="utf-8"))
    recipe: dict[str, Any] = _replace_site(template, site_id)
    defaults = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    defaults["site_id"] = site_id
    if component_name == COMPONENTS["tag-pipeline"]:
        defaults["transport"] = transport
        defaults["canonical_units"] = dict(sorted(canonical_units.items()))
        if transport == "stream-manager":
            # Least privilege: this pipeline appends to stream manager and publishes no MQTT at all.
            defaults["accessControl"] = {}
            recipe["ComponentDependencies"][STREAM_MANAGER] = {
                "VersionRequirement": ">=2.0.0 <3.0.0",
                "DependencyType": "HARD",
            }
    return recipe


def _check(site_id: str, transport: str, canonical_units: Mapping[str, str], components: Iterable[str]) -> None:
    problems = []
    if not re.match(r"^[a-z][A-Za-z0-9]{1,19}$", site_id):
        problems.append(f"site_id {site_id!r} is not a site id; fix: pass the site model's Site.id, e.g. plantA")
    if transport not in ("mqtt", "stream-manager"):
        problems.append(f"transport {transport!r} is not mqtt or stream-manager; fix: pass site.edge.transport")
    if not canonical_units:
        problems.append("canonical_units is empty; fix: pass site.edge.canonical_units")
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        problems.append(f"components {unknown} are unknown; fix: use {sorted(COMPONENTS)}")
    if problems:
        raise ValueError("\n".join(problems))


def build(
    output_dir: Path,
    *,
    site_id: str,
    transport: str = "mqtt",
    canonical_units: Mapping[str, str],
    components: Iterable[str] = ("tag-pipeline", "command-handler"),
    root: Path = ROOT,
) -> list[ComponentBuild]:
    """Write ``<output_dir>/<component>-<version>/dmc_edge.zip`` for each component; returns what was built.

    ``components`` takes the site model's names (``site.edge.components``).
    """
    chosen = list(components)
    _check(site_id, transport, canonical_units, chosen)
    archive = zip_bytes(artifact_files(root))
    built = []
    for key in chosen:
        name = COMPONENTS[key]
        recipe = recipe_for(name, site_id=site_id, transport=transport, canonical_units=canonical_units)
        version = component_version(archive, recipe)
        recipe["ComponentVersion"] = version
        zip_path = output_dir / f"{name}-{version}" / ARTIFACT_NAME
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        zip_path.write_bytes(archive)
        built.append(ComponentBuild(name, version, zip_path, recipe))
    return built


def recipe_with_artifact_uri(recipe: Mapping[str, Any], uri: str) -> dict[str, Any]:
    """A copy of ``recipe`` whose artifact is ``uri`` and whose lifecycle uses the folder the nucleus unpacks it to.

    ``uri`` is ``s3://<bucket>/<key>`` whose key ends in a literal ``<name>.zip`` (the bucket may be a
    CDK token, e.g. ``asset.s3_object_url``): the nucleus unpacks it into ``{artifacts:decompressedPath}/<name>/``.
    """
    file_name = uri.rsplit("/", 1)[-1]
    if not uri.startswith("s3://") or not file_name.endswith(".zip") or "${" in file_name:
        raise ValueError(
            f"artifact URI {uri!r} must be s3://<bucket>/<key> with a key ending in a literal <name>.zip; "
            "fix: pass the zip asset's s3_object_url"
        )
    updated = copy.deepcopy(dict(recipe))
    manifest = updated["Manifests"][0]
    manifest["Artifacts"][0]["Uri"] = uri
    folder = "{artifacts:decompressedPath}/" + file_name.removesuffix(".zip")
    manifest["Lifecycle"] = json.loads(json.dumps(manifest["Lifecycle"]).replace(_FOLDER, folder))
    return updated
