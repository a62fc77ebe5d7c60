"""The edge stack's deployment handler: CloudFormation's requests -> revisions of the thing group's deployment
that keep the released models, every answer (also a failure) delivered to CloudFormation.

Greengrass v2 is not in moto: a real greengrassv2 client behind botocore's Stubber checks every request
against the service model.
"""

from __future__ import annotations

import copy
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from botocore.stub import ANY, Stubber

from factory_constructs.edge.deployment_handler import handler as deployment_handler
from factory_constructs.edge.deployment_handler.compose import stack_part, stack_revision
from factory_constructs.edge.edge_deployment import DEPLOYMENT_HANDLER, EDGE_MODELS, MODEL_CARD
from factory_constructs.ml.release_handler import deployment as release_revision
from factory_constructs.packaging import handler_bundle

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "eu-central-1", "123456789012"
TARGET = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/plantA-gateways"
PIPELINE, COMMANDS = "com.dmc.TagPipeline", "com.dmc.CommandHandler"
MODEL = "com.dmc.Model.filler-anomaly"
GATEWAY_ROOT = "/opt/greengrass/v2"
POLICIES = {
    "failureHandlingPolicy": "ROLLBACK",
    "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 60},
    "configurationValidationPolicy": {"timeoutInSeconds": 60},
}


def stack_components(pipeline_version: str = "1.0.5") -> dict[str, Any]:
    return {
        PIPELINE: {
            "componentVersion": pipeline_version,
            "configurationUpdate": {"merge": '{"tag_map_path":"/greengrass/v2/dmc/tag-map.yaml"}'},
        },
        COMMANDS: {"componentVersion": "1.0.7", "configurationUpdate": {"merge": '{"setpoints":[]}'}},
    }


def specification(pipeline_version: str = "1.0.5") -> str:
    """The ``Deployment`` property: what EdgeDeployment writes with ``stack.to_json_string``."""
    return json.dumps(
        {
            "deploymentName": "plantA-edge",
            "components": stack_components(pipeline_version),
            "deploymentPolicies": POLICIES,
        }
    )


def properties(**changes: Any) -> dict[str, Any]:
    """The resource's properties as CloudFormation passes them (every value a string)."""
    result = {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:plantA-edge-deployment",
        "TargetArn": TARGET,
        "Deployment": specification(),
        "PipelineComponent": PIPELINE,
        "GreengrassRoot": GATEWAY_ROOT,
    }
    result.update(changes)
    return result


def request(kind: str, resource_properties: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A CloudFormation custom resource request as Lambda receives it."""
    event = {
        "RequestType": kind,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:plantA-edge-deployment",
        "ResponseURL": "https://cloudformation-custom-resource-response-eucentral1.s3.amazonaws.com/x?sig=1",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/plantA-Edge/1",
        "RequestId": "9d1c-request",
        "LogicalResourceId": "ComponentsDeploymentB6A3E2B4",
        "ResourceType": "Custom::GreengrassDeployment",
        "ResourceProperties": dict(resource_properties if resource_properties is not None else properties()),
    }
    event.update(extra)
    return event


def latest(deployment_id: str, components: dict[str, Any]) -> dict[str, Any]:
    """A deployment as GetDeployment returns it."""
    return {
        "targetArn": TARGET,
        "revisionId": "3",
        "deploymentId": deployment_id,
        "deploymentName": "plantA-edge",
        "deploymentStatus": "ACTIVE",
        "iotJobId": f"job-{deployment_id}",
        "components": components,
        "deploymentPolicies": POLICIES,
        "creationTimestamp": datetime(2026, 12, 1, tzinfo=UTC),
        "isLatestForTarget": True,
        "tags": {"dmc:site": "plantA", "aws:cloudformation:stack-name": "plantA-Edge"},
    }


def released(base: dict[str, Any], version: str = "1.0.99") -> dict[str, Any]:
    """``base`` after the model release added the filler model (its real revision function)."""
    added = release_revision.add_model(base, pipeline=PIPELINE, root=GATEWAY_ROOT, component=MODEL, version=version)
    assert added is not None
    return latest("release-rev", added["components"])


class Greengrass:
    """A greengrassv2 client whose every call must be the one the test expects, in order."""

    def __init__(self) -> None:
        self.client = boto3.client("greengrassv2", region_name=REGION)
        self.stub = Stubber(self.client)
        self.stub.activate()

    def has_latest(self, deployment: dict[str, Any] | None) -> None:
        summaries = []
        if deployment is not None:
            summaries = [
                {
                    key: deployment[key]
                    for key in ("targetArn", "revisionId", "deploymentId", "deploymentName", "deploymentStatus")
                }
            ]
        self.stub.add_response(
            "list_deployments", {"deployments": summaries}, {"targetArn": TARGET, "historyFilter": "LATEST_ONLY"}
        )
        if deployment is not None:
            self.stub.add_response("get_deployment", deployment, {"deploymentId": deployment["deploymentId"]})

    def creates(self, expected: dict[str, Any], deployment_id: str) -> None:
        self.stub.add_response("create_deployment", {"deploymentId": deployment_id}, {**expected, "clientToken": ANY})


@pytest.fixture
def greengrass(monkeypatch: pytest.MonkeyPatch) -> Iterator[Greengrass]:
    client = Greengrass()
    monkeypatch.setattr(deployment_handler, "aws_client", lambda service: client.client)
    yield client
    client.stub.assert_no_pending_responses()


def run(event: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Mapping[str, Any]]]]:
    delivered: list[tuple[str, Mapping[str, Any]]] = []
    answer = deployment_handler.handler(event, None, deliver=lambda url, body: delivered.append((url, body)))
    return answer, delivered


def pipeline_with(models: list[dict[str, str]], version: str = "1.0.5") -> dict[str, Any]:
    merge = {"models": models, "tag_map_path": "/greengrass/v2/dmc/tag-map.yaml"}
    return {
        "componentVersion": version,
        "configurationUpdate": {"merge": json.dumps(merge, sort_keys=True, separators=(",", ":"))},
    }


def test_a_first_deployment_is_the_stack_components_with_no_models(greengrass: Greengrass) -> None:
    greengrass.has_latest(None)
    components = {**stack_components(), PIPELINE: pipeline_with([])}
    greengrass.creates(
        {
            "targetArn": TARGET,
            "components": components,
            "deploymentName": "plantA-edge",
            "deploymentPolicies": POLICIES,
        },
        "cfn-rev-1",
    )

    answer, delivered = run(request("Create"))

    assert delivered == [(request("Create")["ResponseURL"], answer)]
    assert answer == {
        "Status": "SUCCESS",
        "PhysicalResourceId": TARGET,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/plantA-Edge/1",
        "RequestId": "9d1c-request",
        "LogicalResourceId": "ComponentsDeploymentB6A3E2B4",
        "Data": {"DeploymentId": "cfn-rev-1"},
    }


def test_a_stack_update_keeps_the_released_model_and_its_entry_in_the_pipeline(greengrass: Greengrass) -> None:
    current = released(latest("cfn-rev-1", {**stack_components(), PIPELINE: pipeline_with([])}))
    greengrass.has_latest(current)
    entry = {"artifactDir": f"{GATEWAY_ROOT}/packages/artifacts/{MODEL}/1.0.99", "name": "filler-anomaly"}
    # The stack ships a new pipeline version; the model stays, and the new pipeline is told about it.
    components = {
        **stack_components("1.0.6"),
        PIPELINE: pipeline_with([entry], "1.0.6"),
        MODEL: {"componentVersion": "1.0.99"},
    }
    greengrass.creates(
        {
            "targetArn": TARGET,
            "components": components,
            "deploymentName": "plantA-edge",
            "deploymentPolicies": POLICIES,
            "tags": {"dmc:site": "plantA"},  # aws: tags are AWS's own
        },
        "cfn-rev-2",
    )
    update = properties(Deployment=specification("1.0.6"))

    answer, _ = run(request("Update", update, PhysicalResourceId=TARGET, OldResourceProperties=properties()))

    assert (answer["Status"], answer["Data"]) == ("SUCCESS", {"DeploymentId": "cfn-rev-2"})


def test_an_update_that_changes_nothing_on_the_gateways_creates_no_revision(greengrass: Greengrass) -> None:
    current = released(latest("cfn-rev-1", {**stack_components(), PIPELINE: pipeline_with([])}))
    greengrass.has_latest(current)  # and no create_deployment

    answer, _ = run(request("Update", properties(), PhysicalResourceId=TARGET))

    assert answer["Data"] == {"DeploymentId": "release-rev"}


def test_the_release_and_the_stack_keep_each_others_part() -> None:
    """Stack, release, stack again, withdrawal: each revision starts from the other's."""
    part = stack_part(properties())
    first = stack_revision(part, None)
    assert first is not None
    after_release = released(latest("cfn-rev-1", first["components"]))
    again = stack_revision(stack_part(properties()), after_release)
    assert again is None  # the stack's part is what it was: the release's revision stays as it is
    newer_stack = stack_part(
        properties(
            Deployment=json.dumps(
                {
                    "deploymentName": "plantA-edge",
                    "components": stack_components("1.0.6"),
                    "deploymentPolicies": POLICIES,
                }
            )
        )
    )
    revised = stack_revision(newer_stack, after_release)
    assert revised is not None and MODEL in revised["components"]
    withdrawn = release_revision.remove_model(
        latest("cfn-rev-2", revised["components"]),
        pipeline=PIPELINE,
        root=GATEWAY_ROOT,
        component=MODEL,
        version="1.0.99",
    )
    assert withdrawn is not None
    assert sorted(withdrawn["components"]) == [COMMANDS, PIPELINE]
    assert withdrawn["components"][PIPELINE]["componentVersion"] == "1.0.6"
    assert json.loads(withdrawn["components"][PIPELINE]["configurationUpdate"]["merge"])["models"] == []


def test_delete_leaves_the_gateways_as_they_are(greengrass: Greengrass) -> None:
    answer, delivered = run(request("Delete", PhysicalResourceId=TARGET))  # no Greengrass call expected
    assert (answer["Status"], answer["PhysicalResourceId"], answer["Data"]) == ("SUCCESS", TARGET, {})
    assert len(delivered) == 1


def test_bad_properties_fail_the_operation_naming_every_problem(greengrass: Greengrass) -> None:
    specification = {
        "deploymentName": "plantA-edge",
        "components": {**stack_components(), MODEL: {"componentVersion": "1.0.1"}},
        "rollout": {},
    }
    bad = properties(Deployment=json.dumps(specification), GreengrassRoot="greengrass", PipelineComponent="")

    answer, delivered = run(request("Create", bad))

    assert answer["Status"] == "FAILED" and len(delivered) == 1
    assert answer["Reason"] == (
        "ValueError: edge deployment resource misconfigured: property PipelineComponent is missing; "
        f"property Deployment names model components ['{MODEL}']: the model release owns those; "
        "property Deployment has unknown keys ['rollout']; property GreengrassRoot 'greengrass' is not an "
        "absolute path; fix: synthesize the edge stack with EdgeDeployment, which writes these properties"
    )
    assert answer["PhysicalResourceId"] == TARGET


def test_a_greengrass_refusal_fails_the_operation_with_its_message(greengrass: Greengrass) -> None:
    greengrass.has_latest(None)
    greengrass.stub.add_client_error(
        "create_deployment", "ValidationException", "Component com.dmc.TagPipeline 1.0.5 is not deployable"
    )

    answer, _ = run(request("Create"))

    assert answer["Status"] == "FAILED"
    assert "ValidationException" in answer["Reason"] and "1.0.5 is not deployable" in answer["Reason"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str | None, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_the_answer_is_put_to_the_response_url_without_a_content_type() -> None:
    """A pre-signed S3 PUT is signed without a content type; sending one would make S3 refuse the answer."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = {"Status": "SUCCESS", "PhysicalResourceId": TARGET, "Data": {}}
        deployment_handler.send(f"http://127.0.0.1:{server.server_port}/response?sig=abc", answer)
    finally:
        server.shutdown()
    ((path, content_type, body),) = _Recorder.received
    assert (path, content_type, json.loads(body)) == ("/response?sig=abc", "", answer)


def test_the_handler_imports_from_its_asset_with_only_its_modules_of_the_ml_package(tmp_path: Path) -> None:
    bundle = handler_bundle(DEPLOYMENT_HANDLER, (EDGE_MODELS, MODEL_CARD))
    asset = tmp_path / "asset"
    shutil.copytree(bundle, asset)
    assert sorted(path.name for path in (asset / "ml").iterdir()) == ["edge_models.py", "model_card.py"]
    probe = (
        "import sys\n"
        f"sys.path[:] = [p for p in sys.path if p not in ('', {str(ROOT)!r})]\n"
        f"sys.path.insert(0, {str(asset)!r})\n"
        "import deployment_handler.handler as h\n"
        "heavy = {'factory_constructs', 'site_model', 'aws_cdk', 'pydantic', 'sklearn', 'numpy'}\n"
        "print(callable(h.handler), sorted(n for n in sys.modules if n.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True []"


def test_properties_are_not_changed_by_composing() -> None:
    props = properties()
    before = copy.deepcopy(props)
    stack_revision(stack_part(props), released(latest("cfn-rev-1", stack_components())))
    assert props == before
