"""Revising the thing group's Greengrass deployment: add or remove one model component, keep the rest.

A thing group has one deployment; ``CreateDeployment`` on the same target replaces it, and a core
device uninstalls every component the new revision leaves out. So a revision starts from the
target's latest deployment (``ListDeployments`` + ``GetDeployment``) and copies everything: its name,
every other component with its version, configuration update and run-with options, its policies, job
configuration, parent target and tags (without the ``aws:`` ones, which only AWS may set).

The tag pipeline learns which models to load from its configuration key ``models``: one entry per
model component in the revision, sorted by name, ``{"name": <card name>, "artifactDir": <folder>}``.
``artifactDir`` is the folder the nucleus installs the model component's artifacts to,
``{kernel:rootPath}/packages/artifacts/<component>/<version>`` (the nucleus interpolates recipe
variables in configuration updates, which this project's gateways already rely on for
``{iot:thingName}``). The whole list is written with every revision, also ``[]`` when the last
model goes: a merge update replaces a list but never deletes a key the update leaves out.

Every function here is pure: it returns the ``CreateDeployment`` request, or None when the latest
deployment already is what the revision would create (so approving a version twice creates nothing).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ml.model_card import COMPONENT_PREFIX

# A failed or canceled deployment is not re-pushed with a model on top: a person has to look first.
REVISABLE = frozenset({"ACTIVE", "COMPLETED"})
MODELS_KEY = "models"
_COPIED = ("deploymentName", "deploymentPolicies", "iotJobConfiguration", "parentTargetArn")


def artifact_dir(component: str, version: str) -> str:
    """Where the nucleus installs the (not unarchived) artifacts of ``component`` at ``version``."""
    return f"{{kernel:rootPath}}/packages/artifacts/{component}/{version}"


def models_configuration(components: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """The pipeline's ``models``: every model component of ``components``, sorted by name."""
    return [
        {"name": name.removeprefix(COMPONENT_PREFIX), "artifactDir": artifact_dir(name, spec["componentVersion"])}
        for name, spec in sorted(components.items())
        if name.startswith(COMPONENT_PREFIX)
    ]


def release_problems(deployment: Mapping[str, Any] | None, *, target_arn: str, pipeline: str) -> list[str]:
    """Why a model cannot be added to ``deployment`` (the target's latest), or [] when it can."""
    if deployment is None:
        return [
            f"thing group {target_arn} has no Greengrass deployment; fix: deploy the site's edge stack first, "
            "then approve the model package again"
        ]
    status = deployment.get("deploymentStatus")
    if status not in REVISABLE:
        return [
            f"the latest deployment {deployment['deploymentId']} of {target_arn} is {status}; "
            "fix: repair the edge deployment (cdk deploy of the edge stack), then approve the model package again"
        ]
    if pipeline not in deployment.get("components", {}):
        return [
            f"the latest deployment {deployment['deploymentId']} of {target_arn} has no {pipeline}, which runs "
            "the models; fix: deploy the site's edge stack with the tag-pipeline component"
        ]
    return []


def add_model(deployment: Mapping[str, Any], *, pipeline: str, component: str, version: str) -> dict[str, Any] | None:
    """The request that puts ``component`` at ``version`` into ``deployment``; None if it is there already."""
    components = copy.deepcopy(dict(deployment["components"]))
    components[component] = {"componentVersion": version}
    return _request(deployment, _with_models(components, pipeline))


def remove_model(
    deployment: Mapping[str, Any], *, pipeline: str, component: str, version: str
) -> dict[str, Any] | None:
    """The request that takes ``component`` out of ``deployment`` if it runs ``version`` there; else None
    (a newer version of the model replaced it, or it is not deployed)."""
    components = copy.deepcopy(dict(deployment.get("components", {})))
    if components.get(component, {}).get("componentVersion") != version:
        return None
    del components[component]
    if pipeline in components:
        components = _with_models(components, pipeline)
    return _request(deployment, components)


def _with_models(components: dict[str, Any], pipeline: str) -> dict[str, Any]:
    spec = dict(components[pipeline])
    update = dict(spec.get("configurationUpdate") or {})
    merge = json.loads(update["merge"]) if update.get("merge") else {}
    merge[MODELS_KEY] = models_configuration(components)
    update["merge"] = json.dumps(merge, sort_keys=True, separators=(",", ":"))
    spec["configurationUpdate"] = update
    components[pipeline] = spec
    return components


def _comparable(components: Mapping[str, Any]) -> dict[str, Any]:
    """Components with each merge update parsed: the same configuration in other whitespace is no change."""
    result = {}
    for name, spec in components.items():
        spec = dict(spec)
        update = dict(spec.get("configurationUpdate") or {})
        if update.get("merge"):
            update["merge"] = json.loads(update["merge"])
        spec["configurationUpdate"] = update
        result[name] = spec
    return result


def _request(deployment: Mapping[str, Any], components: dict[str, Any]) -> dict[str, Any] | None:
    if _comparable(components) == _comparable(deployment.get("components", {})):
        return None
    request: dict[str, Any] = {"targetArn": deployment["targetArn"], "components": components}
    for key in _COPIED:
        if deployment.get(key):
            request[key] = copy.deepcopy(deployment[key])
    tags = {key: value for key, value in (deployment.get("tags") or {}).items() if not key.startswith("aws:")}
    if tags:
        request["tags"] = tags
    # A Lambda retry of the same revision sends the same token, so Greengrass creates it once; a revision
    # of another base deployment gets another token even when its content happens to be equal.
    seed = json.dumps({"base": deployment["deploymentId"], "request": request}, sort_keys=True)
    request["clientToken"] = hashlib.sha256(seed.encode()).hexdigest()
    return request
