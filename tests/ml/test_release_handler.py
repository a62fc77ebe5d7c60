"""The model release Lambda: approval -> component + deployment revision, re-approval -> nothing, rejection and
deletion -> the model leaves the deployment, a package that cannot be deployed -> refused with its reasons.

SageMaker, S3 and EventBridge are moto; Greengrass v2 (not in moto) is botocore's Stubber on a real client, so
every request is checked against the service model and its parameters against what the test expects. SageMaker
through the Stubber only where moto has no operation (a deleted package).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from factory_constructs.ml.model_release import EDGE_MODELS, MODEL_CARD, RELEASE_HANDLER
from factory_constructs.ml.release_handler import deployment as revision
from factory_constructs.ml.release_handler import handler as release_handler
from factory_constructs.ml.release_handler.archive import read_model
from factory_constructs.ml.release_handler.records import Record
from factory_constructs.ml.release_handler.release import Clients, Outcome, ReleaseError, Settings, reconcile
from factory_constructs.packaging import handler_bundle
from ml.model_card import SCHEMA, content_version

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "eu-central-1", "123456789012"
SITE, GROUP = "plantA", "plantA-models"
LAKE, ARTIFACTS, BUS = "planta-curated", "planta-model-artifacts", "plantA-alerts"
THING_GROUP_ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/plantA-gateways"
PIPELINE, COMMANDS = "com.dmc.TagPipeline", "com.dmc.CommandHandler"
MODEL = "com.dmc.Model.filler-anomaly"
GATEWAY_ROOT = "/opt/greengrass/v2"  # not the default: the release writes the root it is given
REVISED_ON = {"pipeline": PIPELINE, "root": GATEWAY_ROOT}  # how the pure revision functions are called here
SETTINGS = Settings(
    site_id=SITE,
    model_package_group=GROUP,
    model_data_bucket=LAKE,
    model_data_prefix="ml/",
    artifacts_bucket=ARTIFACTS,
    thing_group_arn=THING_GROUP_ARN,
    pipeline_component=PIPELINE,
    greengrass_root=GATEWAY_ROOT,
)
FILLER = "acme/plantA/filling/line1/filler1"
ONNX = b"\x08\x07onnx graph of filler-anomaly"
TAG_MAP_MERGE = '{"tag_map_path":"/etc/dmc/tag-map.yaml"}'
COMMANDS_MERGE = '{"opcua":{"endpoint":"opc.tcp://plc:4840"},"setpoints":[]}'
NOW = "2026-12-02T08:00:00Z"


# --- a model version -----------------------------------------------------------------------------------


def card_document(*, name: str = "filler-anomaly", onnx: bytes = ONNX, machine: str = FILLER) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "name": name,
        "version": content_version(onnx),
        "features": ["temperature", "pressure"],
        "window_s": 60,
        "machines": [
            {
                "path": machine,
                "inputs": [f"{machine}/temperature", f"{machine}/pressure"],
                "center": [61.2, 2.1],
                "scale": [0.8, 0.05],
            }
        ],
        "onnx": {"file": "model.onnx", "input": "X", "score_output": "scores", "score_sign": -1},
        "output_tag": "anomaly_score",
        "threshold": 0.62,
        "training": {
            "source": "curated.tag_minute",
            "window_start": "2026-11-01T00:00:00Z",
            "window_end": "2026-11-30T00:00:00Z",
            "rows": 41760,
        },
        "metrics": {"train_anomalous_share": 0.01},
    }


def card_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode()


def tar_gz(files: dict[str, bytes], *, prefix: str = "./") -> bytes:
    """A model.tar.gz as SageMaker's training output holds it (``tar czf - -C model .``)."""
    target = io.BytesIO()
    with tarfile.open(fileobj=target, mode="w:gz") as archive:
        for name, data in files.items():
            entry = tarfile.TarInfo(prefix + name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return target.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Expected:
    """What the release must make of one model version, computed here from the documented rules."""

    name: str
    card: bytes
    onnx: bytes = ONNX

    @property
    def component(self) -> str:
        return f"com.dmc.Model.{self.name}"

    @property
    def content_hash(self) -> str:
        # The sorted "<sha256>  <file>" manifest of the two artifacts.
        manifest = f"{sha256(self.card)}  model-card.json\n{sha256(self.onnx)}  model.onnx\n"
        return sha256(manifest.encode())

    @property
    def version(self) -> str:
        return f"1.0.{int(self.content_hash[:7], 16)}"

    @property
    def arn(self) -> str:
        return f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{self.component}:versions:{self.version}"

    def key(self, file: str) -> str:
        return f"models/{self.name}/{self.content_hash}/{file}"

    @property
    def description(self) -> str:
        card_version = content_version(self.onnx)
        return (
            f"ONNX model {self.name} (card version {card_version}) scoring 1 machine(s); "
            f"content sha256:{self.content_hash}"
        )

    def recipe(self) -> bytes:
        def artifact(file: str, data: bytes) -> dict[str, Any]:
            return {
                "Uri": f"s3://{ARTIFACTS}/{self.key(file)}",
                "Digest": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                "Algorithm": "SHA-256",
                "Unarchive": "NONE",
                "Permission": {"Read": "ALL", "Execute": "NONE"},
            }

        recipe = {
            "RecipeFormatVersion": "2020-01-25",
            "ComponentName": self.component,
            "ComponentVersion": self.version,
            "ComponentDescription": self.description,
            "ComponentPublisher": "Digital Manufacturing Cloud",
            "ComponentConfiguration": {
                "DefaultConfiguration": {
                    "model": self.name,
                    "cardVersion": content_version(self.onnx),
                    "contentHash": self.content_hash,
                }
            },
            "Manifests": [
                {
                    "Platform": {"os": "linux"},
                    "Artifacts": [artifact("model-card.json", self.card), artifact("model.onnx", self.onnx)],
                }
            ],
        }
        return json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()

    def model_entry(self) -> str:
        """This model's entry in the pipeline's ``models``, as the merge update spells it."""
        folder = f"{GATEWAY_ROOT}/packages/artifacts/{self.component}/{self.version}"
        return f'{{"artifactDir":"{folder}","name":"{self.name}"}}'


FILLER_MODEL = Expected("filler-anomaly", card_bytes(card_document()))


# --- Greengrass: a real client behind the Stubber --------------------------------------------------------


def edge_deployment(
    deployment_id: str = "cfn-rev-1", *, status: str = "COMPLETED", components: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The thing group's latest deployment as GetDeployment returns it (what the edge stack deployed)."""
    return {
        "targetArn": THING_GROUP_ARN,
        "revisionId": "1",
        "deploymentId": deployment_id,
        "deploymentName": "plantA-edge",
        "deploymentStatus": status,
        "iotJobId": f"job-{deployment_id}",
        "iotJobArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:job/job-{deployment_id}",
        "components": components
        if components is not None
        else {
            PIPELINE: {"componentVersion": "1.0.4242", "configurationUpdate": {"merge": TAG_MAP_MERGE}},
            COMMANDS: {
                "componentVersion": "1.0.77",
                "configurationUpdate": {"merge": COMMANDS_MERGE, "reset": ["/setpoints"]},
                "runWith": {"posixUser": "ggc_user:ggc_group"},
            },
        },
        "deploymentPolicies": {
            "failureHandlingPolicy": "ROLLBACK",
            "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 60},
            "configurationValidationPolicy": {"timeoutInSeconds": 60},
        },
        "iotJobConfiguration": {"timeoutConfig": {"inProgressTimeoutInMinutes": 30}},
        "creationTimestamp": datetime(2026, 12, 1, tzinfo=UTC),
        "isLatestForTarget": True,
        "tags": {"dmc:site": SITE, "aws:cloudformation:stack-name": "plantA-EdgeNestedStack"},
    }


def revision_request(base: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A CreateDeployment request that keeps everything of ``base`` but its components."""
    return {
        "targetArn": THING_GROUP_ARN,
        "deploymentName": "plantA-edge",
        "components": components,
        "deploymentPolicies": base["deploymentPolicies"],
        "iotJobConfiguration": base["iotJobConfiguration"],
        "tags": {"dmc:site": SITE},  # aws: tags are AWS's own and may not be set
        "clientToken": ANY,
    }


def pipeline(*models: Expected) -> dict[str, Any]:
    merge = (
        '{"models":[' + ",".join(model.model_entry() for model in models) + '],"tag_map_path":"/etc/dmc/tag-map.yaml"}'
    )
    return {"componentVersion": "1.0.4242", "configurationUpdate": {"merge": merge}}


def commands() -> dict[str, Any]:
    return edge_deployment()["components"][COMMANDS]


def deployed(request: dict[str, Any], deployment_id: str) -> dict[str, Any]:
    """The deployment a CreateDeployment request became, as GetDeployment returns it later."""
    result = {key: value for key, value in request.items() if key != "clientToken"}
    result["tags"] = {**request["tags"], "aws:cloudformation:stack-name": "plantA-EdgeNestedStack"}
    return {
        **result,
        "revisionId": "2",
        "deploymentId": deployment_id,
        "deploymentStatus": "ACTIVE",
        "iotJobId": f"job-{deployment_id}",
        "iotJobArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:job/job-{deployment_id}",
        "creationTimestamp": datetime(2026, 12, 2, tzinfo=UTC),
        "isLatestForTarget": True,
    }


class Greengrass:
    """A greengrassv2 client whose every call must be one the test expects, in order."""

    def __init__(self) -> None:
        self.client = boto3.client("greengrassv2", region_name=REGION)
        self.stub = Stubber(self.client)
        self.stub.activate()

    def latest(self, deployment: dict[str, Any] | None) -> None:
        summaries = (
            []
            if deployment is None
            else [
                {
                    "targetArn": THING_GROUP_ARN,
                    "revisionId": deployment["revisionId"],
                    "deploymentId": deployment["deploymentId"],
                    "deploymentName": deployment["deploymentName"],
                    "creationTimestamp": deployment["creationTimestamp"],
                    "deploymentStatus": deployment["deploymentStatus"],
                    "isLatestForTarget": True,
                }
            ]
        )
        self.stub.add_response(
            "list_deployments",
            {"deployments": summaries},
            {"targetArn": THING_GROUP_ARN, "historyFilter": "LATEST_ONLY"},
        )
        if deployment is not None:
            self.stub.add_response("get_deployment", deployment, {"deploymentId": deployment["deploymentId"]})

    def component_missing(self, model: Expected) -> None:
        self.stub.add_client_error(
            "describe_component",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
            expected_params={"arn": model.arn},
        )

    def component(self, model: Expected, *, state: str = "DEPLOYABLE", description: str | None = None) -> None:
        self.stub.add_response(
            "describe_component",
            {
                "arn": model.arn,
                "componentName": model.component,
                "componentVersion": model.version,
                "description": model.description if description is None else description,
                "status": {"componentState": state},
            },
            {"arn": model.arn},
        )

    def creates_component(self, model: Expected, *, state: str = "DEPLOYABLE") -> None:
        recipe = model.recipe()
        self.stub.add_response(
            "create_component_version",
            {
                "arn": model.arn,
                "componentName": model.component,
                "componentVersion": model.version,
                "creationTimestamp": datetime(2026, 12, 2, tzinfo=UTC),
                "status": {"componentState": state},
            },
            {"inlineRecipe": recipe, "clientToken": sha256(recipe)},
        )

    def creates_deployment(self, request: dict[str, Any], deployment_id: str) -> None:
        self.stub.add_response(
            "create_deployment",
            {"deploymentId": deployment_id, "iotJobId": f"job-{deployment_id}"},
            request,
        )

    def all_called(self) -> None:
        self.stub.assert_no_pending_responses()


# --- SageMaker, S3 and EventBridge in moto --------------------------------------------------------------


@dataclass
class World:
    sagemaker: Any
    s3: Any
    events: Any
    announced: list[tuple[Record, str | None]] = field(default_factory=list)

    def register(self, archive: bytes, *, key: str = "ml/models/filler-anomaly/output/model.tar.gz") -> str:
        """A model package version in the site's group, pending approval, whose model data is ``archive``."""
        self.s3.put_object(Bucket=LAKE, Key=key, Body=archive)
        return str(
            self.sagemaker.create_model_package(
                ModelPackageGroupName=GROUP,
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={
                    "Containers": [
                        {
                            "Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sklearn-inference:1.4",
                            "ModelDataUrl": f"s3://{LAKE}/{key}",
                        }
                    ],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
            )["ModelPackageArn"]
        )

    def set_status(self, arn: str, status: str) -> None:
        self.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)

    def record(self, arn: str) -> dict[str, Any]:
        path = arn.split(":model-package/")[1]
        return dict(json.loads(self.s3.get_object(Bucket=ARTIFACTS, Key=f"releases/{path}.json")["Body"].read()))

    def versions(self, key: str) -> int:
        listed = self.s3.list_object_versions(Bucket=ARTIFACTS, Prefix=key).get("Versions", [])
        return len([version for version in listed if version["Key"] == key])

    def artifact(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read())

    def reconcile(self, arn: str, greengrass: Greengrass, *, sagemaker: Any = None) -> Outcome:
        clients = Clients(sagemaker=sagemaker or self.sagemaker, s3=self.s3, greengrass=greengrass.client)
        return reconcile(
            arn,
            settings=SETTINGS,
            clients=clients,
            now=lambda: NOW,
            sleep=lambda seconds: None,
            announce=lambda record, deployment_id: self.announced.append((record, deployment_id)),
        )


@dataclass(frozen=True)
class Aws:
    mock: Any
    sagemaker: Any
    s3: Any
    events: Any


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    """One moto for the module, its clients made once (making a client costs more than a test)."""
    mock = mock_aws()
    mock.start()
    try:
        yield Aws(
            mock=mock,
            sagemaker=boto3.client("sagemaker", region_name=REGION),
            s3=boto3.client("s3", region_name=REGION),
            events=boto3.client("events", region_name=REGION),
        )
    finally:
        mock.stop()


@pytest.fixture
def world(aws: Aws) -> World:
    """Empty moto state: the lake and artifacts buckets (versioned), the site's group and alert bus."""
    aws.mock.reset()
    for bucket in (LAKE, ARTIFACTS):
        aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.s3.put_bucket_versioning(Bucket=ARTIFACTS, VersioningConfiguration={"Status": "Enabled"})
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    aws.events.create_event_bus(Name=BUS)
    return World(sagemaker=aws.sagemaker, s3=aws.s3, events=aws.events)


def approved(world: World, model: Expected = FILLER_MODEL) -> str:
    arn = world.register(tar_gz({"model-card.json": model.card, "model.onnx": model.onnx}))
    world.set_status(arn, "Approved")
    return arn


def release_first(world: World) -> tuple[str, dict[str, Any]]:
    """Approve the filler model onto the edge deployment; returns its ARN and the revision Greengrass now has."""
    arn = approved(world)
    greengrass = Greengrass()
    base = edge_deployment()
    request = revision_request(
        base,
        {PIPELINE: pipeline(FILLER_MODEL), COMMANDS: commands(), MODEL: {"componentVersion": FILLER_MODEL.version}},
    )
    greengrass.latest(base)
    greengrass.component_missing(FILLER_MODEL)
    greengrass.creates_component(FILLER_MODEL)
    greengrass.creates_deployment(request, "rev-2")
    world.reconcile(arn, greengrass)
    greengrass.all_called()
    return arn, deployed({**request, "clientToken": "x"}, "rev-2")


# --- approval ---------------------------------------------------------------------------------------------


def test_an_approved_version_becomes_a_component_and_a_revision_of_the_edge_deployment(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    base = edge_deployment()
    greengrass.latest(base)
    greengrass.component_missing(FILLER_MODEL)
    greengrass.creates_component(FILLER_MODEL)
    greengrass.creates_deployment(
        revision_request(
            base,
            {
                PIPELINE: pipeline(FILLER_MODEL),
                COMMANDS: commands(),  # untouched: version, merge, reset and runWith as they were
                MODEL: {"componentVersion": FILLER_MODEL.version},
            },
        ),
        "rev-2",
    )

    outcome = world.reconcile(arn, greengrass)

    greengrass.all_called()
    assert (outcome.action, outcome.recorded, outcome.deployment_id) == ("released", True, "rev-2")
    # The artifacts the recipe names are exactly the package's two files, under content-addressed keys.
    assert world.artifact(FILLER_MODEL.key("model.onnx")) == ONNX
    assert world.artifact(FILLER_MODEL.key("model-card.json")) == FILLER_MODEL.card
    assert world.record(arn) == {
        "schema": "dmc.model-release/1",
        "modelPackageArn": arn,
        "status": "released",
        "component": MODEL,
        "componentVersion": FILLER_MODEL.version,
        "contentHash": FILLER_MODEL.content_hash,
        "at": NOW,
    }
    assert [(record.status, deployment_id) for record, deployment_id in world.announced] == [("released", "rev-2")]


def test_the_same_version_approved_again_creates_no_component_and_no_deployment(world: World) -> None:
    arn, current = release_first(world)
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.component(FILLER_MODEL)  # exists: no artifact upload, no CreateComponentVersion

    outcome = world.reconcile(arn, greengrass)

    greengrass.all_called()  # and nothing else was called: a CreateDeployment would have no stubbed answer
    assert (outcome.action, outcome.recorded, outcome.deployment_id) == ("unchanged", False, None)
    assert world.versions(FILLER_MODEL.key("model.onnx")) == 1
    assert world.record(arn)["status"] == "released"
    assert len(world.announced) == 1  # only the first release was announced


def test_a_second_model_joins_the_first_and_the_pipeline_loads_both_in_name_order(world: World) -> None:
    _, current = release_first(world)
    capper_onnx = b"\x08\x07onnx graph of capper-anomaly"
    capper = Expected(
        "capper-anomaly",
        card_bytes(card_document(name="capper-anomaly", onnx=capper_onnx, machine="acme/plantA/filling/line1/capper1")),
        onnx=capper_onnx,
    )
    arn = approved(world, capper)
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.component_missing(capper)
    greengrass.creates_component(capper)
    greengrass.creates_deployment(
        revision_request(
            current,
            {
                PIPELINE: pipeline(capper, FILLER_MODEL),
                COMMANDS: commands(),
                MODEL: {"componentVersion": FILLER_MODEL.version},
                capper.component: {"componentVersion": capper.version},
            },
        ),
        "rev-3",
    )

    assert world.reconcile(arn, greengrass).action == "released"
    greengrass.all_called()


def test_a_new_version_of_a_model_replaces_the_old_one(world: World) -> None:
    _, current = release_first(world)
    retrained = b"\x08\x07onnx graph of filler-anomaly, retrained"
    newer = Expected("filler-anomaly", card_bytes(card_document(onnx=retrained)), onnx=retrained)
    arn = approved(world, newer)
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.component_missing(newer)
    greengrass.creates_component(newer)
    greengrass.creates_deployment(
        revision_request(
            current, {PIPELINE: pipeline(newer), COMMANDS: commands(), MODEL: {"componentVersion": newer.version}}
        ),
        "rev-3",
    )

    assert world.reconcile(arn, greengrass).action == "released"
    greengrass.all_called()
    assert newer.version != FILLER_MODEL.version


def test_a_component_greengrass_is_still_checking_is_waited_for(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    base = edge_deployment()
    greengrass.latest(base)
    greengrass.component_missing(FILLER_MODEL)
    greengrass.creates_component(FILLER_MODEL, state="REQUESTED")
    greengrass.component(FILLER_MODEL, state="INITIATED")
    greengrass.component(FILLER_MODEL, state="DEPLOYABLE")
    greengrass.creates_deployment(
        revision_request(
            base,
            {PIPELINE: pipeline(FILLER_MODEL), COMMANDS: commands(), MODEL: {"componentVersion": FILLER_MODEL.version}},
        ),
        "rev-2",
    )

    assert world.reconcile(arn, greengrass).action == "released"
    greengrass.all_called()


def test_a_component_that_never_becomes_deployable_fails_the_invocation_for_a_retry(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    greengrass.latest(edge_deployment())
    greengrass.component(FILLER_MODEL, state="INITIATED")
    for _ in range(10):
        greengrass.component(FILLER_MODEL, state="INITIATED")

    with pytest.raises(ReleaseError, match=rf"^{MODEL} {FILLER_MODEL.version} is still INITIATED after 10 checks"):
        world.reconcile(arn, greengrass)
    greengrass.all_called()


# --- refusals: the package stays approved, the record and the event say why -----------------------------


def refused(world: World, arn: str, greengrass: Greengrass) -> list[str]:
    outcome = world.reconcile(arn, greengrass)
    greengrass.all_called()
    assert (outcome.action, outcome.recorded) == ("refused", True)
    assert world.sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    record = world.record(arn)
    assert record["status"] == "refused"
    assert [(announced.status, deployment_id) for announced, deployment_id in world.announced] == [("refused", None)]
    return list(record["problems"])


def test_an_invalid_card_is_refused_with_every_problem_and_nothing_reaches_greengrass(world: World) -> None:
    document = card_document()
    document["threshold"] = "high"
    document["window_s"] = 0
    arn = world.register(tar_gz({"model-card.json": card_bytes(document), "model.onnx": ONNX}))
    world.set_status(arn, "Approved")

    assert refused(world, arn, Greengrass()) == [
        "model-card.json: window_s: 0 is not a whole number of seconds 1..3600; fix: use e.g. 60",
        "model-card.json: threshold: 'high' is not a finite number; fix: use the score quantile from training",
    ]
    assert world.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="models/")["KeyCount"] == 0


def test_a_card_written_for_other_onnx_bytes_is_refused(world: World) -> None:
    arn = world.register(tar_gz({"model-card.json": FILLER_MODEL.card, "model.onnx": b"another graph"}))
    world.set_status(arn, "Approved")

    assert refused(world, arn, Greengrass()) == [
        f"model-card.json: version: card says {content_version(ONNX)!r} but model.onnx hashes to "
        f"{content_version(b'another graph')!r}; "
        "fix: ship the model.onnx the card was written with (or re-run training)"
    ]


def test_a_model_of_another_sites_machines_is_refused(world: World) -> None:
    document = card_document(machine="acme/plantB/filling/line1/filler1")
    arn = world.register(tar_gz({"model-card.json": card_bytes(document), "model.onnx": ONNX}))
    world.set_status(arn, "Approved")

    assert refused(world, arn, Greengrass()) == [
        "model-card.json: its machines are in site 'plantB', not 'plantA'; fix: train and register the model in "
        "that site's workspace (a model deploys to one site's gateways)"
    ]


def test_an_archive_without_a_card_is_refused(world: World) -> None:
    arn = world.register(tar_gz({"model.onnx": ONNX, "notes.txt": b"-"}))
    world.set_status(arn, "Approved")

    assert refused(world, arn, Greengrass()) == [
        "model.tar.gz: no model-card.json at its top level (found ['model.onnx', 'notes.txt']); fix: write the card "
        "beside model.onnx in the training job's model folder"
    ]


def test_model_data_outside_the_workspace_output_is_refused_without_reading_it(world: World) -> None:
    arn = world.register(tar_gz({"model-card.json": FILLER_MODEL.card, "model.onnx": ONNX}), key="exports/model.tar.gz")
    world.set_status(arn, "Approved")

    assert refused(world, arn, Greengrass()) == [
        f"ModelDataUrl 's3://{LAKE}/exports/model.tar.gz' is not a .tar.gz under s3://{LAKE}/ml/; "
        "fix: register models trained by the site's workspace, whose output lands there"
    ]


def test_a_thing_group_without_a_deployment_is_refused(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    greengrass.latest(None)

    assert refused(world, arn, greengrass) == [
        f"thing group {THING_GROUP_ARN} has no Greengrass deployment; fix: deploy the site's edge stack first, "
        "then approve the model package again"
    ]


def test_a_failed_edge_deployment_is_not_revised(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    greengrass.latest(edge_deployment(status="FAILED"))

    assert refused(world, arn, greengrass) == [
        f"the latest deployment cfn-rev-1 of {THING_GROUP_ARN} is FAILED; fix: repair the edge deployment "
        "(cdk deploy of the edge stack), then approve the model package again"
    ]


def test_a_deployment_without_the_tag_pipeline_is_refused(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    greengrass.latest(edge_deployment(components={COMMANDS: commands()}))

    assert refused(world, arn, greengrass) == [
        f"the latest deployment cfn-rev-1 of {THING_GROUP_ARN} has no {PIPELINE}, which runs the models; "
        "fix: deploy the site's edge stack with the tag-pipeline component"
    ]


def test_an_existing_version_with_other_content_is_a_collision_and_refused(world: World) -> None:
    arn = approved(world)
    greengrass = Greengrass()
    greengrass.latest(edge_deployment())
    greengrass.component(FILLER_MODEL, description="ONNX model filler-anomaly; content sha256:0000")

    assert refused(world, arn, greengrass) == [
        f"{MODEL} {FILLER_MODEL.version} already exists with other content "
        "('ONNX model filler-anomaly; content sha256:0000'), "
        f"not content sha256:{FILLER_MODEL.content_hash}; fix: retrain or change the model so its content hash differs"
    ]


def test_the_same_refusal_again_is_neither_stored_nor_announced_twice(world: World) -> None:
    arn = world.register(tar_gz({"model.onnx": ONNX}))
    world.set_status(arn, "Approved")
    refused(world, arn, Greengrass())

    again = world.reconcile(arn, Greengrass())

    assert (again.action, again.recorded) == ("refused", False)
    assert len(world.announced) == 1


# --- rejection and deletion -------------------------------------------------------------------------------


def test_a_rejected_version_leaves_the_deployment_and_the_pipeline_loads_no_model(world: World) -> None:
    arn, current = release_first(world)
    world.set_status(arn, "Rejected")
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.creates_deployment(
        revision_request(
            current,
            {
                # models: [] is written, not left out: a merge never deletes the key the last revision set.
                PIPELINE: {
                    "componentVersion": "1.0.4242",
                    "configurationUpdate": {"merge": '{"models":[],"tag_map_path":"/etc/dmc/tag-map.yaml"}'},
                },
                COMMANDS: commands(),
            },
        ),
        "rev-3",
    )

    outcome = world.reconcile(arn, greengrass)

    greengrass.all_called()
    assert (outcome.action, outcome.deployment_id) == ("withdrawn", "rev-3")
    assert world.record(arn)["status"] == "withdrawn"
    assert [record.status for record, _ in world.announced] == ["released", "withdrawn"]


def test_a_rejection_repeated_changes_nothing(world: World) -> None:
    arn, current = release_first(world)
    world.set_status(arn, "Rejected")
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.creates_deployment(ANY_REQUEST, "rev-3")
    world.reconcile(arn, greengrass)

    again = world.reconcile(arn, Greengrass())  # the record says withdrawn: not even Greengrass is asked

    assert (again.action, again.recorded) == ("unchanged", False)


ANY_REQUEST = {
    key: ANY
    for key in (
        "targetArn",
        "deploymentName",
        "components",
        "deploymentPolicies",
        "iotJobConfiguration",
        "tags",
        "clientToken",
    )
}


def test_a_deleted_version_leaves_the_deployment(world: World) -> None:
    arn, current = release_first(world)
    # moto has no DeleteModelPackage: SageMaker's answer for a package that is gone comes from the Stubber.
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    gone = Stubber(sagemaker)
    gone.add_client_error(
        "describe_model_package",
        service_error_code="ValidationException",
        service_message=f"ModelPackage {arn} does not exist.",
        http_status_code=400,
        expected_params={"ModelPackageName": arn},
    )
    gone.activate()
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.creates_deployment(
        revision_request(
            current,
            {
                PIPELINE: {
                    "componentVersion": "1.0.4242",
                    "configurationUpdate": {"merge": '{"models":[],"tag_map_path":"/etc/dmc/tag-map.yaml"}'},
                },
                COMMANDS: commands(),
            },
        ),
        "rev-3",
    )

    outcome = world.reconcile(arn, greengrass, sagemaker=sagemaker)

    gone.assert_no_pending_responses()
    greengrass.all_called()
    assert (outcome.action, world.record(arn)["status"]) == ("withdrawn", "withdrawn")


def test_a_version_being_deleted_leaves_the_deployment_though_still_approved(world: World) -> None:
    arn, current = release_first(world)
    # moto never shows a package in deletion: SageMaker's description of one comes from the Stubber.
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    deleting = Stubber(sagemaker)
    deleting.add_response(
        "describe_model_package",
        {
            "ModelPackageName": GROUP,
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": 1,
            "ModelPackageArn": arn,
            "CreationTime": datetime(2026, 12, 1, tzinfo=UTC),
            "ModelPackageStatus": "Deleting",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "ModelApprovalStatus": "Approved",
        },
        {"ModelPackageName": arn},
    )
    deleting.activate()
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.creates_deployment(ANY_REQUEST, "rev-3")

    outcome = world.reconcile(arn, greengrass, sagemaker=sagemaker)

    deleting.assert_no_pending_responses()
    greengrass.all_called()
    assert (outcome.action, world.record(arn)["status"]) == ("withdrawn", "withdrawn")


def test_rejecting_an_old_version_keeps_the_newer_one_that_replaced_it(world: World) -> None:
    old_arn, current = release_first(world)
    retrained = b"\x08\x07onnx graph of filler-anomaly, retrained"
    newer = Expected("filler-anomaly", card_bytes(card_document(onnx=retrained)), onnx=retrained)
    newer_request = revision_request(
        current, {PIPELINE: pipeline(newer), COMMANDS: commands(), MODEL: {"componentVersion": newer.version}}
    )
    greengrass = Greengrass()
    greengrass.latest(current)
    greengrass.component_missing(newer)
    greengrass.creates_component(newer)
    greengrass.creates_deployment(newer_request, "rev-3")
    world.reconcile(approved(world, newer), greengrass)
    world.set_status(old_arn, "Rejected")
    greengrass = Greengrass()
    greengrass.latest(deployed({**newer_request, "clientToken": "x"}, "rev-3"))

    outcome = world.reconcile(old_arn, greengrass)

    greengrass.all_called()  # no CreateDeployment: the old version is not on the gateways any more
    assert (outcome.action, outcome.recorded) == ("unchanged", True)
    assert world.record(old_arn)["status"] == "withdrawn"


def test_a_version_never_released_is_rejected_without_touching_greengrass(world: World) -> None:
    arn = world.register(tar_gz({"model-card.json": FILLER_MODEL.card, "model.onnx": ONNX}))
    world.set_status(arn, "Rejected")

    outcome = world.reconcile(arn, Greengrass())

    assert (outcome.action, outcome.record, outcome.recorded) == ("unchanged", None, False)


def test_a_package_of_another_group_is_an_error(world: World) -> None:
    world.sagemaker.create_model_package_group(ModelPackageGroupName="plantB-models")
    arn = world.sagemaker.create_model_package(
        ModelPackageGroupName="plantB-models",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{LAKE}/ml/b/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]

    with pytest.raises(ValueError, match="is in group 'plantB-models', not 'plantA-models'"):
        world.reconcile(arn, Greengrass())


# --- the deployment revision, pure -----------------------------------------------------------------------


def test_a_retry_of_one_revision_sends_the_same_client_token_and_another_base_another() -> None:
    first = revision.add_model(edge_deployment(), **REVISED_ON, component=MODEL, version="1.0.1")
    retry = revision.add_model(edge_deployment(), **REVISED_ON, component=MODEL, version="1.0.1")
    other_base = revision.add_model(edge_deployment("cfn-rev-9"), **REVISED_ON, component=MODEL, version="1.0.1")
    assert first is not None and retry is not None and other_base is not None
    assert first["clientToken"] == retry["clientToken"]
    assert first["clientToken"] != other_base["clientToken"]
    assert len(first["clientToken"]) == 64


def test_the_same_configuration_in_other_whitespace_is_no_change() -> None:
    current = edge_deployment(
        components={
            PIPELINE: {
                "componentVersion": "1.0.4242",
                "configurationUpdate": {"merge": json.dumps({"tag_map_path": "/x", "models": []}, indent=2)},
            }
        }
    )
    assert revision.remove_model(current, **REVISED_ON, component=MODEL, version="1.0.1") is None
    added = revision.add_model(current, **REVISED_ON, component=MODEL, version="1.0.1")
    assert added is not None
    readded = revision.add_model(
        {**current, "components": added["components"]},
        pipeline=PIPELINE,
        root=GATEWAY_ROOT,
        component=MODEL,
        version="1.0.1",
    )
    assert readded is None


def test_the_models_the_revision_writes_are_what_the_tag_pipeline_reads() -> None:
    """The seam with edge/greengrass/config.py: the merge update, as the gateway receives it (the nucleus
    interpolates no recipe variable in configuration by default), parses into the pipeline's models."""
    # Imported here: the edge configuration brings the OPC UA stack, which no other test of the release needs.
    from edge.greengrass.config import TagPipelineConfig, parse

    request = revision.add_model(edge_deployment(), **REVISED_ON, component=MODEL, version="1.0.42")
    assert request is not None
    merge = request["components"][PIPELINE]["configurationUpdate"]["merge"]
    defaults = {"site_id": SITE, "transport": "mqtt", "canonical_units": {"temperature": "degC"}}

    config = parse(TagPipelineConfig, {**defaults, **json.loads(merge)})

    assert [(entry.name, entry.artifact_dir) for entry in config.models] == [
        ("filler-anomaly", f"{GATEWAY_ROOT}/packages/artifacts/com.dmc.Model.filler-anomaly/1.0.42")
    ]
    assert config.tag_map_path == "/etc/dmc/tag-map.yaml"  # the rest of the merge as it was


# --- the archive ------------------------------------------------------------------------------------------


def test_only_regular_files_at_the_archives_top_level_are_read() -> None:
    target = io.BytesIO()
    with tarfile.open(fileobj=target, mode="w:gz") as archive:
        for name, data in (("model-card.json", FILLER_MODEL.card), ("sub/model.onnx", ONNX), ("../model.onnx", ONNX)):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
        link = tarfile.TarInfo("model.onnx")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)

    with pytest.raises(ValueError, match=r"^model.tar.gz: no model.onnx at its top level, which model-card.json names"):
        read_model(target.getvalue(), site_id=SITE)


def test_an_archive_that_is_not_a_gzip_tar_is_named() -> None:
    with pytest.raises(ValueError, match=r"^model.tar.gz: not a gzip-compressed tar \(.+\); fix: package the model"):
        read_model(b"PK\x03\x04 a zip", site_id=SITE)


def test_files_without_the_dot_prefix_are_read_too() -> None:
    model = read_model(tar_gz({"model-card.json": FILLER_MODEL.card, "model.onnx": ONNX}, prefix=""), site_id=SITE)
    assert (model.card.name, model.onnx_bytes, model.card_bytes) == ("filler-anomaly", ONNX, FILLER_MODEL.card)


# --- the handler: environment, event, log line, release event ----------------------------------------------

ENVIRONMENT = {
    "SITE_ID": SITE,
    "MODEL_PACKAGE_GROUP": GROUP,
    "MODEL_DATA_BUCKET": LAKE,
    "MODEL_DATA_PREFIX": "ml/",
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "THING_GROUP_ARN": THING_GROUP_ARN,
    "PIPELINE_COMPONENT": PIPELINE,
    "GREENGRASS_ROOT": GATEWAY_ROOT,
    "EVENT_BUS_NAME": BUS,
}


def state_change(arn: str, status: str) -> dict[str, Any]:
    """A "SageMaker Model Package State Change" event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-12-02T08:00:00Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": int(arn.rsplit("/", 1)[1]),
            "ModelPackageArn": arn,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": status,
        },
    }


def test_the_handler_releases_logs_one_line_and_puts_the_release_event_on_the_bus(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = world.register(tar_gz({"model.onnx": ONNX}))  # no card: refused, which needs no Greengrass answer
    world.set_status(arn, "Approved")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    events = boto3.client("events", region_name=REGION)  # its own client: the hook below stays in this test
    put: list[dict[str, Any]] = []
    events.meta.events.register("provide-client-params.events.PutEvents", lambda params, **_: put.append(params))
    clients = {"sagemaker": world.sagemaker, "s3": world.s3, "greengrassv2": Greengrass().client, "events": events}
    monkeypatch.setattr(release_handler, "aws_client", clients.__getitem__)

    summary = release_handler.handler(state_change(arn, "Approved"), None)

    problem = (
        "model.tar.gz: no model-card.json at its top level (found ['model.onnx']); fix: write the card beside "
        "model.onnx in the training job's model folder"
    )
    assert summary == {
        "message": "model-release",
        "model_package_arn": arn,
        "event_approval_status": "Approved",
        "action": "refused",
        "recorded": True,
        "status": "refused",
        "component": None,
        "component_version": None,
        "deployment_id": None,
        "problems": [problem],
    }
    assert json.loads(capsys.readouterr().out) == summary
    (entry,) = put[0]["Entries"]
    assert {key: entry[key] for key in ("Source", "DetailType", "Resources", "EventBusName")} == {
        "Source": "dmc.model-release",
        "DetailType": "Model Release Refused",
        "Resources": [arn],
        "EventBusName": BUS,
    }
    assert json.loads(entry["Detail"]) == {
        "schema": "dmc.model-release/1",
        "modelPackageArn": arn,
        "status": "refused",
        "problems": [problem],
        "at": json.loads(entry["Detail"])["at"],
        "deploymentId": None,
    }


def test_a_release_event_the_bus_refuses_fails_before_the_record_is_stored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = world.register(tar_gz({"model.onnx": ONNX}))
    world.set_status(arn, "Approved")
    for name, value in {**ENVIRONMENT, "EVENT_BUS_NAME": "no-such-bus"}.items():
        monkeypatch.setenv(name, value)

    class RefusingBus:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "NotFoundException"}]}

    clients = {
        "sagemaker": world.sagemaker,
        "s3": world.s3,
        "greengrassv2": Greengrass().client,
        "events": RefusingBus(),
    }
    monkeypatch.setattr(release_handler, "aws_client", clients.__getitem__)

    with pytest.raises(
        release_handler.PublishError, match=r"^EventBridge refused the release event: NotFoundException$"
    ):
        release_handler.handler(state_change(arn, "Approved"), None)
    # Not stored: the retry announces it again instead of finding the record and staying silent.
    assert world.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="releases/")["KeyCount"] == 0


def test_every_missing_or_bad_variable_is_named_at_once() -> None:
    environment = {
        **ENVIRONMENT,
        "THING_GROUP_ARN": "plantA-gateways",
        "MODEL_DATA_PREFIX": "ml",
        "GREENGRASS_ROOT": "greengrass/v2",
    }
    del environment["ARTIFACTS_BUCKET"], environment["EVENT_BUS_NAME"]
    message = (
        "model release misconfigured: ARTIFACTS_BUCKET is not set; EVENT_BUS_NAME is not set; "
        "THING_GROUP_ARN='plantA-gateways' is not a thing group ARN; MODEL_DATA_PREFIX='ml' does not end with '/'; "
        "GREENGRASS_ROOT='greengrass/v2' is not an absolute path"
    )
    with pytest.raises(ValueError, match=f"^{message}$"):
        release_handler.config_from_env(environment)


# --- packaging --------------------------------------------------------------------------------------------

# Run in a fresh interpreter whose path holds only the asset and the installed packages (boto3).
PROBE = """
import sys
sys.path[:] = [p for p in sys.path if p not in ("", {root!r})]
sys.path.insert(0, {asset!r})
import release_handler.handler
assert callable(release_handler.handler.handler)
import ml.model_card, ml.edge_models
print(ml.model_card.__file__.startswith({asset!r}) and ml.edge_models.__file__.startswith({asset!r}))
heavy = {{"factory_constructs", "site_model", "aws_cdk", "pydantic", "yaml", "sklearn", "numpy"}}
print(sorted(name for name in sys.modules if name.split(".")[0] in heavy))
"""


def test_the_handler_imports_from_its_asset_with_only_its_modules_of_the_ml_package(tmp_path: Path) -> None:
    bundle = handler_bundle(RELEASE_HANDLER, (MODEL_CARD, EDGE_MODELS))
    asset = tmp_path / "asset"
    shutil.copytree(bundle, asset)
    assert sorted(path.name for path in (asset / "ml").iterdir()) == ["edge_models.py", "model_card.py"]

    probe = PROBE.format(root=str(ROOT), asset=str(asset))
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True", "[]"]


def test_a_card_the_training_job_writes_passes_the_release_check() -> None:
    from ml.model_card import card_json, parse_card

    written = card_json(parse_card(card_document())).encode()
    model = read_model(tar_gz({"model-card.json": written, "model.onnx": ONNX}), site_id=SITE)
    assert model.card == parse_card(copy.deepcopy(card_document()))
