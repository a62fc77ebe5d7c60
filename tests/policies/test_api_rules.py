"""The rules over REST APIs and event rules: a compliant and a non-compliant resource each, through their pack."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Stack, Tags
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events

from policies import tag_keys
from policies.packs import GxPChecks, ResidencyChecks

pytestmark = pytest.mark.synth

SECURE_OPERATION = {
    "operationId": "listTags",
    "security": [{"sigv4": []}],
    "x-amazon-apigateway-request-validator": "all",
    "responses": {"200": {"description": "ok"}},
}
SECURE_BODY: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "components": {
        "securitySchemes": {
            "sigv4": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "awsSigv4",
            },
            "key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        }
    },
    "x-amazon-apigateway-request-validators": {"all": {"validateRequestBody": True, "validateRequestParameters": True}},
    "paths": {"/tags": {"get": SECURE_OPERATION}, "/tags/{path}/latest": {"get": SECURE_OPERATION}},
}


def findings(pack: type, build: Callable[[Stack], object], *, region: str = "eu-central-1") -> list[str]:
    """Rule names ``pack`` reports for a stack in ``region`` (allowed data regions: eu-central-1, eu-west-1)."""
    app = App()
    stack = Stack(app, "Site", env={"region": region, "account": "123456789012"})
    Tags.of(stack).add(tag_keys.DATA_REGIONS, "eu-central-1 eu-west-1")
    build(stack)
    app.synth()  # applies the tags, as a real synth does before validation
    report = pack(app).validate_scope(app)
    return sorted({violation.rule_name for violation in report.violations})


def api(
    body: dict[str, Any] | None = SECURE_BODY,
    *,
    security_policy: str | None = "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
    types: list[str] | None = None,
    parameters: dict[str, str] | None = None,
    s3_body: bool = False,
) -> Callable[[Stack], object]:
    def build(stack: Stack) -> None:
        apigateway.CfnRestApi(
            stack,
            "Api",
            body=body,
            body_s3_location=apigateway.CfnRestApi.S3LocationProperty(bucket="b", key="openapi.json")
            if s3_body
            else None,
            security_policy=security_policy,
            endpoint_configuration=apigateway.CfnRestApi.EndpointConfigurationProperty(
                types=types if types is not None else ["REGIONAL"]
            ),
            parameters=parameters,
        )

    return build


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A copy of SECURE_BODY with ``change`` applied."""
    body = copy.deepcopy(SECURE_BODY)
    change(body)
    return body


def latest(body: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = body["paths"]["/tags/{path}/latest"]["get"]
    return operation


# --- GxP-ApiOperationsAuthorized ------------------------------------------------------------------------------


def test_an_api_whose_operations_each_require_one_enforced_scheme_is_authorized() -> None:
    assert findings(GxPChecks, api()) == []

    def iam_auth(body: dict[str, Any]) -> None:
        latest(body).pop("security")
        latest(body)["x-amazon-apigateway-auth"] = {"type": "AWS_IAM"}

    assert findings(GxPChecks, api(changed(iam_auth))) == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda body: latest(body).pop("security"), id="no security"),
        pytest.param(lambda body: latest(body).update(security=[]), id="empty security"),
        pytest.param(lambda body: latest(body).update(security=[{}]), id="an empty requirement"),
        pytest.param(lambda body: latest(body).update(security=[{"sigv4": []}, {"key": []}]), id="alternatives"),
        pytest.param(lambda body: latest(body).update(security=[{"key": []}]), id="an API key is not authorization"),
        pytest.param(lambda body: latest(body).update(security=[{"oauth": []}]), id="an undeclared scheme"),
    ],
)
def test_an_operation_without_one_enforced_scheme_is_a_finding(change: Callable[[dict[str, Any]], object]) -> None:
    assert findings(GxPChecks, api(changed(change))) == ["GxP-ApiOperationsAuthorized"]


def test_a_body_the_template_does_not_hold_cannot_be_proven() -> None:
    assert "GxP-ApiOperationsAuthorized" in findings(GxPChecks, api(None, s3_body=True))


# --- GxP-ApiRequestsValidated ---------------------------------------------------------------------------------


def test_operations_naming_a_full_validator_or_inheriting_the_default_are_validated() -> None:
    def by_default(body: dict[str, Any]) -> None:
        latest(body).pop("x-amazon-apigateway-request-validator")
        body["x-amazon-apigateway-request-validator"] = "all"

    assert findings(GxPChecks, api(changed(by_default))) == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda body: latest(body).pop("x-amazon-apigateway-request-validator"), id="no validator"),
        pytest.param(
            lambda body: latest(body).update({"x-amazon-apigateway-request-validator": "other"}), id="undeclared"
        ),
        pytest.param(
            lambda body: body["x-amazon-apigateway-request-validators"]["all"].update(validateRequestBody=False),
            id="parameters only",
        ),
        pytest.param(lambda body: body.pop("x-amazon-apigateway-request-validators"), id="no validators"),
    ],
)
def test_an_operation_without_a_full_validator_is_a_finding(change: Callable[[dict[str, Any]], object]) -> None:
    assert findings(GxPChecks, api(changed(change))) == ["GxP-ApiRequestsValidated"]


# --- GxP-ApiMinimumTls ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["TLS_1_2", "SecurityPolicy_TLS13_1_3_2025_09"])
def test_tls_1_2_and_enhanced_policies_are_modern(policy: str) -> None:
    assert findings(GxPChecks, api(security_policy=policy)) == []


@pytest.mark.parametrize(
    ("policy", "in_body"),
    [(None, None), ("TLS_1_0", None), ("TLS_1_2", "TLS_1_0")],
    ids=["the default", "TLS 1.0", "TLS 1.0 in the body"],
)
def test_an_api_accepting_tls_1_0_is_a_finding(policy: str | None, in_body: str | None) -> None:
    body = changed(lambda body: body.update({"x-amazon-apigateway-security-policy": in_body} if in_body else {}))
    assert findings(GxPChecks, api(body, security_policy=policy)) == ["GxP-ApiMinimumTls"]


# --- Residency-ApiRegionalEndpoint ----------------------------------------------------------------------------


def test_regional_and_private_endpoints_are_resident() -> None:
    assert findings(ResidencyChecks, api(parameters={"endpointConfigurationTypes": "REGIONAL"})) == []
    assert findings(ResidencyChecks, api(types=["PRIVATE"])) == []


@pytest.mark.parametrize(
    ("types", "parameters"),
    [(["EDGE"], None), ([], None), (["REGIONAL"], {"endpointConfigurationTypes": "EDGE"})],
    ids=["edge", "the default", "an edge import"],
)
def test_an_edge_optimized_api_is_a_finding(types: list[str], parameters: dict[str, str] | None) -> None:
    assert findings(ResidencyChecks, api(types=types, parameters=parameters)) == ["Residency-ApiRegionalEndpoint"]


# --- Residency-EventTargetsResident ---------------------------------------------------------------------------


def rule(target_arn: str | None) -> Callable[[Stack], object]:
    def build(stack: Stack) -> None:
        bus = events.EventBus(stack, "Bus")
        own_target = stack.format_arn(service="events", resource="event-bus", resource_name="own")
        events.CfnRule(
            stack,
            "Rule",
            event_bus_name=bus.event_bus_name,
            event_pattern={"source": ["dmc.kpi"]},
            targets=[
                events.CfnRule.TargetProperty(id="Own", arn=own_target),
                events.CfnRule.TargetProperty(id="Bus", arn=bus.event_bus_arn),
                *([events.CfnRule.TargetProperty(id="Other", arn=target_arn)] if target_arn else []),
            ],
        )

    return build


def test_targets_in_the_data_regions_or_in_the_stack_are_resident() -> None:
    assert findings(ResidencyChecks, rule(None)) == []
    assert findings(ResidencyChecks, rule("arn:aws:events:eu-west-1:210987654321:event-bus/kpi")) == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:events:us-east-1:210987654321:event-bus/kpi",
        "arn:aws:events:eu-central-1:123456789012:api-destination/erp/0123",
        "not-an-arn",
    ],
    ids=["another region", "an HTTP API destination", "unreadable"],
)
def test_a_target_outside_the_data_regions_or_over_http_is_a_finding(arn: str) -> None:
    assert findings(ResidencyChecks, rule(arn)) == ["Residency-EventTargetsResident"]


def test_a_target_in_the_stacks_region_is_resident_only_where_that_region_is_allowed() -> None:
    # The format_arn target names the stack's region, us-east-1, which the site does not allow.
    assert findings(ResidencyChecks, rule(None), region="us-east-1") == ["Residency-EventTargetsResident"]
