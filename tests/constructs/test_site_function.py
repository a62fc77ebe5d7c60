"""SiteFunction on a bare stack: defaults, each option, validations, its role and grant_invoke, removal, nag."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest
from aws_cdk import CfnParameter, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from constructs import IConstruct

from construct_helpers import bare_stack, placement, site_keys, unacknowledged_findings
from factory_constructs.foundation.keys import SiteKeys
from factory_constructs.site_function import FunctionPlacement, SiteFunction
from policies.acknowledge import acknowledge, in_regulatory_packs

pytestmark = pytest.mark.synth

HANDLER = "tiny_handler.handler.handler"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """The smallest handler package: tiny_handler/handler.py echoing its event."""
    folder = tmp_path / "tiny_handler"
    folder.mkdir()
    (folder / "handler.py").write_text("def handler(event, context):\n    return event\n", encoding="utf-8")
    return folder


class Built(NamedTuple):
    stack: Stack
    keys: SiteKeys
    placement: FunctionPlacement
    site_function: SiteFunction

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def resource(self, construct: IConstruct) -> dict[str, Any]:
        logical_id = self.stack.get_logical_id(cast(CfnResource, construct.node.default_child))
        return cast(dict[str, Any], self.template().to_json()["Resources"][logical_id])


def build(package: Path, *, audit_trail: bool = False, **props: Any) -> Built:
    """A SiteFunction with its id "Fn" and only the required props unless ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    where = placement(stack, keys)
    site_function = SiteFunction(
        stack,
        "Fn",
        **{
            "handler_package": package,
            "handler": HANDLER,
            "description": "Echoes its event",
            "placement": where,
            "environment_key": keys.data,
            "logs_key": keys.logs,
            **props,
        },
    )
    return Built(stack, keys, where, site_function)


def function_properties(built: Built) -> dict[str, Any]:
    return cast(dict[str, Any], built.resource(built.site_function.function)["Properties"])


def statements(built: Built, role: iam.IRole) -> list[str]:
    """The statements of ``role``'s grant-built policy, order-free."""
    policy = built.resource(cast(IConstruct, role.node.find_child("DefaultPolicy")))
    return sorted(
        json.dumps(statement, sort_keys=True) for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    )


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_run_python_3_14_on_arm_with_the_handler_512_mb_one_minute_and_five_reserved(package: Path) -> None:
    built = build(package)
    built.template().has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": HANDLER,
            "Description": "Echoes its event",
            "MemorySize": 512,
            "Timeout": 60,
            "ReservedConcurrentExecutions": 5,
            "Role": built.resolve(built.site_function.role.role_arn),
            "Environment": Match.absent(),
            "DeadLetterConfig": Match.absent(),
            "FunctionName": Match.absent(),
        },
    )


def test_defaults_place_the_function_in_the_placements_subnets_with_its_security_group(package: Path) -> None:
    built = build(package)
    selection = built.placement.subnets
    subnets = built.placement.vpc.select_subnets(
        subnet_type=selection.subnet_type, subnet_group_name=selection.subnet_group_name, subnets=selection.subnets
    ).subnet_ids
    assert len(subnets) == 1  # the bare network's one private subnet
    assert function_properties(built)["VpcConfig"] == {
        "SubnetIds": built.resolve(subnets),
        "SecurityGroupIds": [built.resolve(built.placement.security_group.security_group_id)],
    }


def test_defaults_trace_every_invocation_with_x_ray(package: Path) -> None:
    assert function_properties(build(package))["TracingConfig"] == {"Mode": "Active"}


def test_defaults_encrypt_the_environment_with_the_environment_key(package: Path) -> None:
    built = build(package)
    assert function_properties(built)["KmsKeyArn"] == built.resolve(built.keys.data.key_arn)


def test_defaults_log_to_its_own_log_group_encrypted_with_the_logs_key_for_13_months(package: Path) -> None:
    built = build(package)
    log_group = built.site_function.log_group
    assert function_properties(built)["LoggingConfig"] == {"LogGroup": built.resolve(log_group.log_group_name)}
    properties = built.resource(log_group)["Properties"]
    assert properties["KmsKeyId"] == built.resolve(built.keys.logs.key_arn)
    assert properties["RetentionInDays"] == 400
    assert "LogGroupName" not in properties


# --- customisations ---------------------------------------------------------------------------------


def test_environment_sets_the_variables_the_handler_reads(package: Path) -> None:
    built = build(package, environment={"SITE": "plantA", "WINDOW_S": "300"})
    assert function_properties(built)["Environment"] == {"Variables": {"SITE": "plantA", "WINDOW_S": "300"}}


@pytest.mark.parametrize("reserved", [1, 100])
def test_reserved_concurrency_reserves_that_many_executions(package: Path, reserved: int) -> None:
    assert (
        function_properties(build(package, reserved_concurrency=reserved))["ReservedConcurrentExecutions"] == reserved
    )


@pytest.mark.parametrize(("timeout", "seconds"), [(Duration.seconds(1), 1), (Duration.minutes(15), 900)])
def test_timeout_bounds_each_invocation(package: Path, timeout: Duration, seconds: int) -> None:
    assert function_properties(build(package, timeout=timeout))["Timeout"] == seconds


@pytest.mark.parametrize("memory", [128, 10240])
def test_memory_mb_sizes_the_function(package: Path, memory: int) -> None:
    assert function_properties(build(package, memory_mb=memory))["MemorySize"] == memory


def test_sizes_given_as_tokens_are_left_to_lambda_to_check_at_deploy_time(package: Path) -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    SiteFunction(
        stack,
        "Fn",
        handler_package=package,
        handler=HANDLER,
        description="Echoes its event",
        placement=placement(stack, keys),
        environment_key=keys.data,
        logs_key=keys.logs,
        reserved_concurrency=cast(int, CfnParameter(stack, "Reserved", type="Number").value_as_number),
        timeout=Duration.seconds(CfnParameter(stack, "Timeout", type="Number").value_as_number),
        memory_mb=cast(int, CfnParameter(stack, "Memory", type="Number").value_as_number),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "ReservedConcurrentExecutions": {"Ref": "Reserved"},
            "Timeout": {"Ref": "Timeout"},
            "MemorySize": {"Ref": "Memory"},
        },
    )


# --- validations ------------------------------------------------------------------------------------


def new(package: Path, **props: Any) -> SiteFunction:
    """Only the constructor (for validation tests): no template is synthesized."""
    stack = bare_stack()
    keys = site_keys(stack)
    return SiteFunction(
        stack,
        "Fn",
        **{
            "handler_package": package,
            "handler": HANDLER,
            "description": "Echoes its event",
            "placement": placement(stack, keys),
            "environment_key": keys.data,
            "logs_key": keys.logs,
            **props,
        },
    )


def refused(message: str) -> Any:
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize("reserved", [0, 101])
def test_reserved_concurrency_outside_1_to_100_is_refused(package: Path, reserved: int) -> None:
    with refused(
        f"SiteFunction Fn: reserved_concurrency {reserved} is outside 1-100; "
        "fix: reserve at least one and at most what one site's functions need"
    ):
        new(package, reserved_concurrency=reserved)


@pytest.mark.parametrize("memory", [127, 10241])
def test_memory_mb_outside_128_to_10240_is_refused(package: Path, memory: int) -> None:
    with refused(f"SiteFunction Fn: memory_mb {memory} is outside 128-10240; fix: use a size Lambda offers"):
        new(package, memory_mb=memory)


@pytest.mark.parametrize(
    ("timeout", "shown"),
    [
        (Duration.minutes(16), "16 minutes"),
        (Duration.seconds(0), "0 seconds"),
        (Duration.millis(1500), "1 second 500 millis"),
    ],
)
def test_timeout_beyond_15_minutes_or_not_whole_seconds_is_refused(
    package: Path, timeout: Duration, shown: str
) -> None:
    with refused(
        f"SiteFunction Fn: timeout {shown} is not 1-900 whole seconds; "
        "fix: Lambda counts whole seconds and stops a function after 15 minutes"
    ):
        new(package, timeout=timeout)


@pytest.mark.parametrize(
    "handler", ["tiny_handler.missing.handler", "other_package.handler.handler", "tiny_handler", "handler"]
)
def test_a_handler_naming_no_module_of_the_package_is_refused(package: Path, handler: str) -> None:
    with refused(
        f"SiteFunction Fn: handler {handler!r} names no module of handler_package 'tiny_handler'; "
        f"fix: use 'tiny_handler.<module>.<function>' after a .py file in {package}"
    ):
        new(package, handler=handler)


def test_a_handler_package_that_is_no_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "absent_handler"
    with refused(f"SiteFunction Fn: handler_package {missing} is not a folder; fix: pass the handler's package folder"):
        new(missing, handler="absent_handler.handler.handler")


def test_every_problem_is_reported_at_once(package: Path) -> None:
    with refused(
        "SiteFunction Fn: handler 'tiny_handler.nope.handler' names no module of handler_package 'tiny_handler'; "
        f"fix: use 'tiny_handler.<module>.<function>' after a .py file in {package}; "
        "reserved_concurrency 0 is outside 1-100; "
        "fix: reserve at least one and at most what one site's functions need; "
        "timeout 20 minutes is not 1-900 whole seconds; "
        "fix: Lambda counts whole seconds and stops a function after 15 minutes; "
        "memory_mb 64 is outside 128-10240; fix: use a size Lambda offers"
    ):
        new(
            package,
            handler="tiny_handler.nope.handler",
            reserved_concurrency=0,
            timeout=Duration.minutes(20),
            memory_mb=64,
        )


# --- the role and grants ----------------------------------------------------------------------------


def test_the_role_is_assumed_by_lambda_with_the_vpc_access_managed_policy(package: Path) -> None:
    built = build(package)
    role = built.resource(built.site_function.role)["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert role["ManagedPolicyArns"] == [
        {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"],
            ]
        }
    ]


def test_the_roles_own_policy_only_writes_x_ray_traces(package: Path) -> None:
    built = build(package)
    assert statements(built, built.site_function.role) == [
        json.dumps(
            {"Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Effect": "Allow", "Resource": "*"},
            sort_keys=True,
        )
    ]


def test_grant_invoke_lets_the_grantee_invoke_this_function_and_its_versions_only(package: Path) -> None:
    built = build(package)
    caller = iam.Role(built.stack, "Caller", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))
    built.site_function.function.grant_invoke(caller)
    function_arn = built.resolve(built.site_function.function.function_arn)
    assert statements(built, caller) == [
        json.dumps(
            {
                "Action": "lambda:InvokeFunction",
                "Effect": "Allow",
                "Resource": [function_arn, {"Fn::Join": ["", [function_arn, ":*"]]}],
            },
            sort_keys=True,
        )
    ]


# --- removal policy ---------------------------------------------------------------------------------


def test_the_log_group_is_retained_by_default(package: Path) -> None:
    built = build(package)
    resource = built.resource(built.site_function.log_group)
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_removal_policy_destroy_deletes_the_log_group_with_the_stack(package: Path) -> None:
    built = build(package, removal_policy=RemovalPolicy.DESTROY)
    resource = built.resource(built.site_function.log_group)
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Delete", "Delete")


# --- nag --------------------------------------------------------------------------------------------


def test_alone_only_the_dead_letter_queue_findings_are_left_to_the_caller(package: Path) -> None:
    # Whether a DLQ can ever receive anything depends on how the function is invoked, which only the caller knows.
    assert unacknowledged_findings(build(package, audit_trail=True).stack) == [
        "HIPAA.Security-LambdaDLQ at Test/Fn/Function/Resource",
        "NIST.800.53.R5-LambdaDLQ at Test/Fn/Function/Resource",
    ]


def test_with_the_callers_dead_letter_decision_it_has_no_unacknowledged_finding(package: Path) -> None:
    built = build(package, audit_trail=True)
    acknowledge(
        built.site_function.function,
        in_regulatory_packs("LambdaDLQ"),
        "In this test the function is invoked synchronously, as Firehose invokes its transform, so a "
        "dead-letter queue would never receive anything.",
    )
    assert unacknowledged_findings(built.stack) == []
