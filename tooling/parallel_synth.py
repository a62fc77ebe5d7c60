"""Synthesizing every site on every core: worker processes, then one merged cloud assembly.

One app process cannot use a second core: Python and its jsii node process take turns. So a synth of
every site (`cdk synth` with no -c site) runs `python app.py` once per core, each over a share of the
sites and into a folder of its own, and merges their assemblies into the one the CLI reads. A
targeted synth builds one site and stays in one process.

Each worker synthesizes whole top-level stacks (a site's nested stacks and assets come with it), so
merging is a union: files side by side, manifest artifacts, construct tree children, and the
validation reports' plugin results.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().parent.parent / "app.py"
# Context naming the sites of one worker (comma-separated ids); set by this module only.
SHARE_CONTEXT = "sites"
# Files every worker writes and the merge combines; every other file is copied as it is.
_MANIFEST, _TREE = "manifest.json", "tree.json"
_REPORTS = ("validation-report.json", "policy-validation-report.json")


def cli_context() -> dict[str, Any]:
    """The context the CDK CLI hands the app, read the way the App reads it: the overflow file named
    by CONTEXT_OVERFLOW_LOCATION_ENV, then CDK_CONTEXT_JSON."""
    context: dict[str, Any] = {}
    overflow = os.environ.get("CONTEXT_OVERFLOW_LOCATION_ENV")
    if overflow:
        context.update(json.loads(Path(overflow).read_text(encoding="utf-8")))
    context.update(json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}"))
    return context


def shares(site_ids: list[str], workers: int) -> list[list[str]]:
    """``site_ids`` dealt round-robin to ``workers`` (sites cost about the same to synthesize)."""
    return [site_ids[index::workers] for index in range(workers) if site_ids[index::workers]]


def synth_in_workers(site_ids: list[str], outdir: Path, workers: int) -> int:
    """Synthesize ``site_ids`` in ``workers`` processes into ``outdir``; returns the exit status.

    Workers print their own output (the gate's report included); the first failing one's status is
    returned and nothing is merged, so a failed synth leaves no assembly that looks complete.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    with tempfile.TemporaryDirectory(prefix="dmc-synth-") as scratch:
        running = []
        for index, share in enumerate(shares(site_ids, workers)):
            part = Path(scratch) / f"worker-{index}"
            env = {
                **os.environ,
                "CDK_OUTDIR": str(part),
                "CDK_CONTEXT_JSON": json.dumps({**context, SHARE_CONTEXT: ",".join(share)}),
            }
            running.append((part, subprocess.Popen([sys.executable, str(APP)], env=env)))
        statuses = [process.wait() for _, process in running]
        failed = [status for status in statuses if status != 0]
        if failed:
            return failed[0]
        merge([part for part, _ in running], outdir)
    return 0


def merge(parts: list[Path], outdir: Path) -> None:
    """One cloud assembly in ``outdir`` from the worker assemblies ``parts`` (disjoint sets of stacks)."""
    manifest: dict[str, Any] = {}
    tree: dict[str, Any] = {}
    reports: dict[str, dict[str, Any]] = {}
    for part in parts:
        for item in part.iterdir():
            if item.name in (_MANIFEST, _TREE, *_REPORTS):
                continue
            if item.is_dir():  # an asset folder: the same hash is the same content
                shutil.copytree(item, outdir / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, outdir / item.name)
        manifest = _merged_manifest(manifest, _read(part / _MANIFEST))
        tree = _merged_tree(tree, _read(part / _TREE))
        for name in _REPORTS:
            if (part / name).exists():
                reports[name] = _merged_report(reports.get(name, {}), _read(part / name))
    _write(outdir / _MANIFEST, manifest)
    _write(outdir / _TREE, tree)
    for name, report in reports.items():
        _write(outdir / name, report)


def _merged_manifest(merged: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if not merged:
        return part
    merged["artifacts"] = {**merged.get("artifacts", {}), **part.get("artifacts", {})}
    known = merged.get("missing", [])
    missing = known + [entry for entry in part.get("missing", []) if entry not in known]
    if missing:
        merged["missing"] = missing
    return merged


def _merged_tree(merged: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if not merged:
        return part
    merged["tree"]["children"] = {**merged["tree"].get("children", {}), **part["tree"].get("children", {})}
    return merged


def _merged_report(merged: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Plugin reports joined by plugin: their findings and acknowledgments (lists) together. Only
    passing workers are merged, so every conclusion is already a success."""
    if not merged:
        return part
    by_plugin = {_plugin_name(plugin): plugin for plugin in merged.get("pluginReports", [])}
    for plugin in part.get("pluginReports", []):
        known = by_plugin.get(_plugin_name(plugin))
        if known is None:
            merged.setdefault("pluginReports", []).append(plugin)
            by_plugin[_plugin_name(plugin)] = plugin
            continue
        for key, value in plugin.items():
            if isinstance(value, list):
                known[key] = known.get(key, []) + value
    return merged


def _plugin_name(plugin: dict[str, Any]) -> str:
    # validation-report.json names it at the top; the legacy report in its summary.
    return str(plugin.get("pluginName") or plugin.get("summary", {}).get("pluginName"))


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
