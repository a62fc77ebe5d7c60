"""Component configurations: checked when a deployment arrives (ACCEPTED / REJECTED) and at start-up."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from awsiot.greengrasscoreipc.model import ConfigurationValidityStatus
from component_configs import GATEWAY, TAG_MAP
from greengrass_fakes import FakeIpc

from edge.greengrass import command_handler, tag_pipeline
from edge.greengrass.config import ConfigurationError
from edge.greengrass.ipc import DeploymentValidator


def pipeline_check(work_dir: Path) -> Any:
    return lambda configuration: tag_pipeline.plan(configuration, GATEWAY, work_dir)


def test_deployment_with_a_valid_configuration_is_accepted(pipeline_configuration: dict, tmp_path: Path) -> None:
    ipc = FakeIpc({})
    DeploymentValidator(ipc, "com.dmc.TagPipeline", pipeline_check(tmp_path)).subscribe()
    report = ipc.propose(pipeline_configuration, deployment_id="d-1")
    assert (report.status, report.deployment_id, report.message) == (
        ConfigurationValidityStatus.ACCEPTED,
        "d-1",
        "com.dmc.TagPipeline configuration accepted",
    )


def test_deployment_with_bad_keys_is_rejected_naming_each(pipeline_configuration: dict, tmp_path: Path) -> None:
    ipc = FakeIpc({})
    DeploymentValidator(ipc, "com.dmc.TagPipeline", pipeline_check(tmp_path)).subscribe()
    proposed = {**pipeline_configuration, "transport": "kinesis", "tag_map": {}}
    report = ipc.propose(proposed, deployment_id="d-2")
    assert (report.status, report.deployment_id) == (ConfigurationValidityStatus.REJECTED, "d-2")
    assert report.message == (
        "com.dmc.TagPipeline configuration rejected:\n"
        "transport: Input should be 'mqtt' or 'stream-manager' (got 'kinesis'); fix: use one of the values shown\n"
        "tag_map: is not a known field (got {}); fix: remove the key or correct its spelling"
    )


def test_deployment_with_a_bad_tag_map_runner_and_source_is_rejected(
    pipeline_configuration: dict, tmp_path: Path
) -> None:
    tag_map = copy.deepcopy(TAG_MAP)
    tag_map["gateway"] = "plantA-gw-02"
    tag_map["sources"]["modbus"] = {"host": "plc-packer", "port": 0}
    tag_map["tags"].append({"source": "modbus", "address": "holding:x", "path": "filling/line1/filler/speed"})
    proposed = {**pipeline_configuration, "tag_maps": {GATEWAY: tag_map}, "runner": {"linger_s": -1}}
    ipc = FakeIpc({})
    DeploymentValidator(ipc, "com.dmc.TagPipeline", pipeline_check(tmp_path)).subscribe()
    assert ipc.propose(proposed, deployment_id="d-3").message.splitlines() == [
        "com.dmc.TagPipeline configuration rejected:",
        "the tag map is for site plantA, gateway plantA-gw-02, but this is site plantA, gateway plantA-gw-01; "
        "fix: deploy this gateway's own tag map",
        "runner.linger_s: Input should be greater than 0 (got -1); fix: use a larger number",
        "sources.modbus.port: Input should be greater than or equal to 1 (got 0); "
        "fix: see ModbusSettings in edge/sources/modbus.py",
    ]


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        (
            {"tag_maps": None, "tag_map_path": "/greengrass/v2/work/absent.yaml"},
            [
                "tag_map_path /greengrass/v2/work/absent.yaml: cannot be read (No such file or directory); "
                "fix: check the path"
            ],
        ),
        (
            {"tag_map_path": "maps/gw-01.yaml"},
            [
                "set exactly one of tag_map_path and tag_maps (got both); fix: point tag_map_path at the gateway's "
                "tag map file, or put the tag maps under tag_maps",
                "tag_map_path 'maps/gw-01.yaml' is relative; fix: write the absolute path on the gateway",
            ],
        ),
        (
            {"tag_maps": {"plantA-gw-09": TAG_MAP}},
            [
                "tag_maps.plantA-gw-01: missing (tag_maps has ['plantA-gw-09']); "
                "fix: add this gateway's tag map under its thing name"
            ],
        ),
        (
            {"transport": "stream-manager"},
            [
                "transport stream-manager needs stream_manager; fix: add stream_manager.kinesis_stream_name "
                "(the site's Kinesis stream)",
                "accessControl.aws.greengrass.ipc.mqttproxy.com.dmc.TagPipeline:mqttproxy:1: operation "
                "'aws.greengrass#PublishToIoTCore' is not needed (it needs no MQTT access); fix: remove it",
            ],
        ),
        (
            {"accessControl": {"aws.greengrass.ipc.mqttproxy": ["publish everything"]}},
            ["accessControl.aws.greengrass.ipc.mqttproxy: expected a mapping of policies; fix: see the recipe"],
        ),
        (
            {"runner": {"spool_path": "/tmp/elsewhere.db"}},
            ["runner.spool_path is not a runner option here; fix: set the top-level spool_path instead"],
        ),
    ],
)
def test_pipeline_configuration_problems(
    pipeline_configuration: dict, tmp_path: Path, change: dict, problems: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        tag_pipeline.plan({**pipeline_configuration, **change}, GATEWAY, tmp_path)
    assert caught.value.problems == problems


def test_a_deployment_cannot_widen_the_topics(pipeline_configuration: dict, tmp_path: Path) -> None:
    widened = copy.deepcopy(pipeline_configuration)
    policy = widened["accessControl"]["aws.greengrass.ipc.mqttproxy"]["com.dmc.TagPipeline:mqttproxy:1"]
    policy["operations"].append("aws.greengrass#SubscribeToIoTCore")
    policy["resources"].append("dmc/#")
    widened["accessControl"]["aws.greengrass.SecretManager"] = {}
    with pytest.raises(ConfigurationError) as caught:
        tag_pipeline.plan(widened, GATEWAY, tmp_path)
    where = "accessControl.aws.greengrass.ipc.mqttproxy.com.dmc.TagPipeline:mqttproxy:1"
    assert caught.value.problems == [
        f"{where}: aws.greengrass#PublishToIoTCore on 'dmc/#' reaches beyond this gateway's own topics; "
        "fix: use only ['dmc/plantA/{iot:thingName}/health', 'dmc/plantA/{iot:thingName}/telemetry']",
        f"{where}: operation 'aws.greengrass#SubscribeToIoTCore' is not needed "
        "(it needs only ['aws.greengrass#PublishToIoTCore']); fix: remove it",
        "accessControl.aws.greengrass.SecretManager: this component uses no such IPC service; fix: remove it",
    ]


def test_a_failing_check_rejects_rather_than_accepts() -> None:
    def broken(configuration: Any) -> None:
        raise KeyError("tags")

    ipc = FakeIpc({})
    DeploymentValidator(ipc, "com.dmc.TagPipeline", broken).subscribe()
    report = ipc.propose({}, deployment_id="d-4")
    assert (report.status, report.message) == (
        ConfigurationValidityStatus.REJECTED,
        "com.dmc.TagPipeline configuration could not be validated (KeyError('tags')); fix: see the component log",
    )


def test_command_handler_configuration_is_accepted(command_configuration: dict) -> None:
    ipc = FakeIpc({})
    DeploymentValidator(ipc, "com.dmc.CommandHandler", command_handler.plan).subscribe()
    assert ipc.propose(command_configuration, "d-5").status == ConfigurationValidityStatus.ACCEPTED


def test_command_handler_allow_list_and_topics_are_checked(command_configuration: dict) -> None:
    proposed = copy.deepcopy(command_configuration)
    first = proposed["setpoints"][0]
    proposed["setpoints"] += [
        dict(first),
        {"path": "acme/plantB/filling/line1/filler/speed", "node_id": "ns=2;s=Speed", "min": 0, "max": 200},
    ]
    subscribe = proposed["accessControl"]["aws.greengrass.ipc.mqttproxy"]["com.dmc.CommandHandler:mqttproxy:1"]
    subscribe["resources"] = ["dmc/plantA/+/commands"]
    with pytest.raises(ConfigurationError) as caught:
        command_handler.plan(proposed)
    assert caught.value.problems == [
        f"setpoints[1].path {first['path']!r} is listed twice; fix: list each tag once",
        "setpoints[2].path 'acme/plantB/filling/line1/filler/speed' is not in site plantA; "
        "fix: use enterprise/<site>/area/line/cell/tag paths of this site",
        "accessControl.aws.greengrass.ipc.mqttproxy.com.dmc.CommandHandler:mqttproxy:1: "
        "aws.greengrass#SubscribeToIoTCore on 'dmc/plantA/+/commands' reaches beyond this gateway's own topics; "
        "fix: use only ['dmc/plantA/{iot:thingName}/commands']",
    ]


@pytest.mark.parametrize(
    ("setpoint", "problem"),
    [
        (
            {"node_id": "Setpoint"},
            "setpoints[0].node_id: 'Setpoint' is not a NodeId; fix: write it like ns=2;s=Filler.TempSetpoint",
        ),
        ({"min": 90}, "setpoints[0]: min 90.0 is above max 80.0; fix: swap them"),
        (
            {"max": "hot"},
            "setpoints[0].max: Input should be a valid number, unable to parse string as a number "
            "(got 'hot'); fix: write a number",
        ),
    ],
)
def test_command_handler_setpoint_problems(command_configuration: dict, setpoint: dict, problem: str) -> None:
    command_configuration["setpoints"][0].update(setpoint)
    with pytest.raises(ConfigurationError) as caught:
        command_handler.plan(command_configuration)
    assert caught.value.problems == [problem]


def test_command_handler_certificate_files_must_exist(command_configuration: dict) -> None:
    Path(command_configuration["opcua"]["server_certificate"]).unlink()
    with pytest.raises(ConfigurationError) as caught:
        command_handler.plan(command_configuration)
    assert caught.value.problems == [
        f"opcua.server_certificate: file {command_configuration['opcua']['server_certificate']} does not exist; "
        "fix: install it on the gateway or correct the path"
    ]
