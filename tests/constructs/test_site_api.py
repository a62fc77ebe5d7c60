"""SiteApi on a bare stack (the contract, one function per handler, a user pool, the firewall): the bodies
``api_body`` builds, the two REST APIs, their stages and logs, the invoke permissions, validation, nag."""

from __future__ import annotations

import copy
import json
from typing import Any, NamedTuple, cast

import pytest
from aws_cdk import CfnElement, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, bare_stack, keys_of, placement, site_keys, unacknowledged_findings
from factory_constructs.api.api_functions import API_HANDLER
from factory_constructs.api.api_handler.contract import HANDLERS, load_contract, operations
from factory_constructs.api.site_api import (
    ACCESS_LOG_FIELDS,
    GATEWAY_RESPONSES,
    SECURITY_POLICY,
    VALIDATOR,
    SiteApi,
    api_body,
    execute_api_path,
)
from factory_constructs.api.user_pool import ApiUserPool
from factory_constructs.api.waf import ApiFirewall
from factory_constructs.site_function import SiteFunction
from policies.acknowledge import acknowledge, in_regulatory_packs

pytestmark = pytest.mark.synth

INTEGRATIONS = {handler: f"uri-of-{handler}" for handler in HANDLERS}
POOL_ARN = "arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_abc"


class Built(NamedTuple):
    stack: Stack
    api: SiteApi
    functions: dict[str, lambda_.IFunction]
    firewall: ApiFirewall
    pool: ApiUserPool

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(cast(CfnElement, construct.node.default_child))

    def body(self, scheme: str) -> dict[str, Any]:
        properties = self.template().to_json()["Resources"][self.logical_id(self.api.apis[scheme])]["Properties"]
        body: dict[str, Any] = properties["Body"]
        return body


def functions_for(stack: Stack) -> dict[str, lambda_.IFunction]:
    """One API function per handler, as ApiFunctions makes them (without their environment and grants)."""
    keys = site_keys(stack)
    where = placement(stack, keys)
    functions: dict[str, lambda_.IFunction] = {}
    for handler in HANDLERS:
        site_function = SiteFunction(
            stack,
            handler.title(),
            handler_package=API_HANDLER,
            handler=f"api_handler.entry.{handler}",
            description=f"{handler} routes",
            placement=where,
            environment_key=keys.data,
            logs_key=keys.logs,
        )
        acknowledge(
            site_function.function,
            in_regulatory_packs("LambdaDLQ"),
            "API Gateway invokes this test's route function synchronously; a dead-letter queue would receive nothing.",
        )
        functions[handler] = site_function.function
    return functions


def build(*, audit_trail: bool = False, document: dict[str, Any] | None = None, **props: Any) -> Built:
    stack = bare_stack(audit_trail=audit_trail)
    functions = props.pop("functions", None) or functions_for(stack)
    keys = keys_of(stack)
    firewall = props.pop("firewall", None) or ApiFirewall(
        stack, "Firewall", name="plantA-api", logs_key=keys.logs, requests_per_ip=3000
    )
    pool = ApiUserPool(stack, "Users", groups=["operator", "engineer", "analyst"])
    api = SiteApi(
        stack,
        "Api",
        document=document or load_contract(),
        functions=functions,
        user_pool=pool.pool,
        firewall=firewall,
        logs_key=keys.logs,
        **{"site_id": "plantA", "rate_limit_per_s": 100, "burst_limit": 200, **props},
    )
    return Built(stack, api, functions, firewall, pool)


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- api_body -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["sigv4", "cognito"])
def test_each_body_keeps_every_operation_with_its_one_scheme_validator_and_handlers_integration(scheme: str) -> None:
    document = load_contract()
    body = api_body(document, scheme=scheme, integrations=INTEGRATIONS, user_pool_arn=POOL_ARN)
    declared = operations(document)
    assert [(operation.method, operation.path) for operation in operations(body)] == [
        (operation.method, operation.path) for operation in declared
    ]
    for operation in declared:
        spec = body["paths"][operation.path][operation.method.lower()]
        assert spec["security"] == [{scheme: []}]
        assert spec["x-amazon-apigateway-request-validator"] == VALIDATOR
        assert spec["x-amazon-apigateway-integration"] == {
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": f"uri-of-{operation.handler}",
            "passthroughBehavior": "when_no_match",
        }
    assert body["x-amazon-apigateway-request-validators"] == {
        VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": True}
    }
    assert (body["x-amazon-apigateway-security-policy"], body["x-amazon-apigateway-endpoint-access-mode"]) == (
        SECURITY_POLICY,
        "STRICT",
    )


def test_the_document_is_not_changed_and_keeps_only_the_scheme_in_use() -> None:
    document = load_contract()
    original = copy.deepcopy(document)
    sigv4 = api_body(document, scheme="sigv4", integrations=INTEGRATIONS)
    cognito = api_body(document, scheme="cognito", integrations=INTEGRATIONS, user_pool_arn=POOL_ARN)
    assert document == original
    assert sigv4["components"]["securitySchemes"] == {
        "sigv4": {**original["components"]["securitySchemes"]["sigv4"], "x-amazon-apigateway-authtype": "awsSigv4"}
    }
    assert cognito["components"]["securitySchemes"] == {
        "cognito": {
            **original["components"]["securitySchemes"]["cognito"],
            "x-amazon-apigateway-authtype": "cognito_user_pools",
            "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [POOL_ARN]},
        }
    }


def test_an_operation_offered_one_way_only_is_left_out_of_the_other_api() -> None:
    document = load_contract()
    document["paths"]["/alerts"]["get"]["security"] = [{"sigv4": []}]
    cognito = api_body(document, scheme="cognito", integrations=INTEGRATIONS, user_pool_arn=POOL_ARN)
    sigv4 = api_body(document, scheme="sigv4", integrations=INTEGRATIONS)
    assert "/alerts" not in cognito["paths"]
    assert "/alerts" in sigv4["paths"]


def test_errors_api_gateway_answers_itself_are_problems() -> None:
    responses = api_body(load_contract(), scheme="sigv4", integrations=INTEGRATIONS)[
        "x-amazon-apigateway-gateway-responses"
    ]
    assert set(responses) == set(GATEWAY_RESPONSES)
    throttled = responses["THROTTLED"]
    assert throttled["statusCode"] == 429
    assert throttled["responseParameters"] == {"gatewayresponse.header.Content-Type": "'application/problem+json'"}
    # The template is JSON once API Gateway puts the quoted message in.
    rendered = throttled["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", json.dumps("Too Many Requests")
    )
    assert json.loads(rendered) == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Too Many Requests",
    }


def test_api_body_refuses_an_unknown_scheme_and_cognito_without_a_pool() -> None:
    with pytest.raises(ValueError, match=r"^scheme 'basic' is not one of sigv4, cognito; fix: use one of them$"):
        api_body(load_contract(), scheme="basic", integrations=INTEGRATIONS)
    with pytest.raises(ValueError, match=r"^scheme 'cognito' needs user_pool_arn; fix: pass the user pool's ARN$"):
        api_body(load_contract(), scheme="cognito", integrations=INTEGRATIONS)


def test_path_parameters_match_any_value_in_an_execute_api_arn() -> None:
    assert execute_api_path("/tags/{path}/latest") == "/tags/*/latest"
    assert execute_api_path("/lines/{line}/oee") == "/lines/*/oee"
    assert execute_api_path("/tags") == "/tags"


# --- the REST APIs --------------------------------------------------------------------------------------------


def test_two_regional_apis_one_per_way_in_accept_tls_1_2_or_later_and_are_overwritten_by_their_body(
    default: Built,
) -> None:
    assert sorted(default.api.apis) == ["cognito", "sigv4"]
    for scheme, name in (("sigv4", "plantA-systems"), ("cognito", "plantA-users")):
        properties = default.template().to_json()["Resources"][default.logical_id(default.api.apis[scheme])][
            "Properties"
        ]
        assert {key: value for key, value in properties.items() if key not in ("Body", "Description", "Tags")} == {
            "Name": name,
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "Parameters": {"endpointConfigurationTypes": "REGIONAL"},
            "Mode": "overwrite",
            "SecurityPolicy": SECURITY_POLICY,
            "EndpointAccessMode": "STRICT",
        }


def test_the_users_api_authorizes_with_this_user_pool(default: Built) -> None:
    scheme = default.body("cognito")["components"]["securitySchemes"]["cognito"]
    assert scheme["x-amazon-apigateway-authorizer"] == {
        "type": "cognito_user_pools",
        "providerARNs": [default.resolve(default.pool.pool.user_pool_arn)],
    }


def test_every_operation_integrates_its_handlers_function(default: Built) -> None:
    for scheme in ("sigv4", "cognito"):
        body = default.body(scheme)
        for operation in operations(body):
            uri = body["paths"][operation.path][operation.method.lower()]["x-amazon-apigateway-integration"]["uri"]
            assert default.resolve(default.functions[operation.handler].function_arn) in uri["Fn::Join"][1]


@pytest.mark.parametrize("scheme", ["sigv4", "cognito"])
def test_each_stage_traces_throttles_logs_errors_without_data_and_writes_json_access_logs(
    default: Built, scheme: str
) -> None:
    api = default.api.apis[scheme]
    access_logs = default.api.access_logs[scheme]
    default.template().has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "RestApiId": default.resolve(api.rest_api_id),
            "StageName": "v1",
            "TracingEnabled": True,
            "MethodSettings": [
                {
                    "HttpMethod": "*",
                    "ResourcePath": "/*",
                    "DataTraceEnabled": False,
                    "LoggingLevel": "ERROR",
                    "MetricsEnabled": True,
                    "ThrottlingRateLimit": 100,
                    "ThrottlingBurstLimit": 200,
                }
            ],
            "AccessLogSetting": {
                "DestinationArn": default.resolve(access_logs.log_group_arn),
                "Format": json.dumps(ACCESS_LOG_FIELDS),
            },
            "CacheClusterEnabled": Match.absent(),
            "ClientCertificateId": Match.absent(),
        },
    )


def test_every_log_group_is_encrypted_with_the_logs_key_and_kept_13_months(default: Built) -> None:
    keys = keys_of(default.stack)
    groups = [
        group
        for logical_id, group in default.template().find_resources("AWS::Logs::LogGroup").items()
        if logical_id.startswith("Api")
    ]
    assert len(groups) == 4  # an access log and an execution log per API
    assert {
        (json.dumps(group["Properties"]["KmsKeyId"]), group["Properties"]["RetentionInDays"]) for group in groups
    } == {(json.dumps(default.resolve(keys.logs.key_arn)), 400)}


@pytest.mark.parametrize("scheme", ["sigv4", "cognito"])
def test_the_execution_log_group_exists_before_the_stage_can_create_it_unencrypted(default: Built, scheme: str) -> None:
    api = default.api.apis[scheme]
    name = "Systems" if scheme == "sigv4" else "Users"
    (logical_id,) = default.template().find_resources(
        "AWS::Logs::LogGroup",
        {
            "Properties": {
                "LogGroupName": {
                    "Fn::Join": ["", ["API-Gateway-Execution-Logs_", default.resolve(api.rest_api_id), "/v1"]]
                }
            }
        },
    )
    stage = default.template().to_json()["Resources"][
        default.stack.get_logical_id(cast(CfnElement, api.deployment_stage.node.default_child))
    ]
    assert logical_id in stage["DependsOn"]
    assert default.stack.get_logical_id(default.api.account) in stage["DependsOn"]  # the CloudWatch role is set
    assert logical_id.startswith(f"Api{name}ExecutionLogs")


def test_the_accounts_cloudwatch_role_is_retained_for_the_other_apis_of_the_account(default: Built) -> None:
    template = default.template()
    template.has_resource("AWS::ApiGateway::Account", {"DeletionPolicy": "Retain"})
    template.has_resource(
        "AWS::IAM::Role",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "AssumeRolePolicyDocument": Match.object_like(
                        {"Statement": [Match.object_like({"Principal": {"Service": "apigateway.amazonaws.com"}})]}
                    )
                }
            ),
        },
    )


@pytest.mark.parametrize("scheme", ["sigv4", "cognito"])
def test_each_stage_is_behind_the_web_acl(default: Built, scheme: str) -> None:
    api = default.api.apis[scheme]
    default.template().has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "ResourceArn": default.resolve(api.deployment_stage.stage_arn),
            "WebACLArn": default.resolve(default.firewall.web_acl.attr_arn),
        },
    )


def test_each_function_may_be_invoked_only_for_its_own_operations_on_the_stage(default: Built) -> None:
    permissions = default.template().find_resources(
        "AWS::Lambda::Permission", {"Properties": {"Principal": "apigateway.amazonaws.com"}}
    )
    granted = sorted(
        (json.dumps(permission["Properties"]["FunctionName"]), json.dumps(permission["Properties"]["SourceArn"]))
        for permission in permissions.values()
    )
    expected = sorted(
        (
            json.dumps(default.resolve(default.functions[operation.handler].function_arn)),
            json.dumps(
                default.resolve(api.arn_for_execute_api(operation.method, execute_api_path(operation.path), "v1"))
            ),
        )
        for api in default.api.apis.values()
        for operation in operations(load_contract())
    )
    assert granted == expected
    assert {permission["Properties"]["SourceAccount"] for permission in permissions.values()} == {ACCOUNT}


# --- validation and nag ---------------------------------------------------------------------------------------


def test_functions_must_be_exactly_the_documents_handlers() -> None:
    stack = bare_stack()
    functions = functions_for(stack)
    extra = functions.pop("alerts")
    functions["reports"] = extra
    keys = keys_of(stack)
    with pytest.raises(ValueError) as raised:
        SiteApi(
            stack,
            "Api",
            site_id="plantA",
            document=load_contract(),
            functions=functions,
            user_pool=ApiUserPool(stack, "Users", groups=["operator"]).pool,
            firewall=ApiFirewall(stack, "Firewall", name="plantA-api", logs_key=keys.logs, requests_per_ip=3000),
            logs_key=keys.logs,
            rate_limit_per_s=20_000,
            burst_limit=0,
        )
    assert str(raised.value) == (
        "SiteApi Api: functions lack the handler(s) ['alerts'] the document names; fix: pass a function each; "
        "functions ['reports'] answer no operation of the document; fix: remove them or add routes; "
        "rate_limit_per_s 20000 is outside 1-10000; fix: pick a limit API Gateway allows; burst_limit 0 is "
        "outside 1-5000; fix: pick a limit API Gateway allows"
    )


def test_an_operation_without_a_known_scheme_is_refused() -> None:
    document = load_contract()
    document["paths"]["/alerts"]["get"]["security"] = [{"apiKey": []}]
    with pytest.raises(
        ValueError,
        match=r"GET /alerts: security \[\{'apiKey': \[\]\}\] names none or others of the schemes sigv4, cognito; "
        r"fix: allow the route through one or both of them",
    ):
        build(document=document)


def test_an_invalid_contract_is_refused_with_its_own_message() -> None:
    document = load_contract()
    document["paths"]["/alerts"]["get"]["x-dmc-handler"] = "reports"
    with pytest.raises(
        ValueError, match=r"^SiteApi Api: OpenAPI contract invalid: GET /alerts: x-dmc-handler 'reports'"
    ):
        build(document=document)


def test_a_firewall_in_another_stack_is_refused() -> None:
    stack = bare_stack()
    other = Stack(stack.node.root, "Other", env={"region": REGION, "account": ACCOUNT})
    firewall = ApiFirewall(other, "Firewall", name="plantA-api", logs_key=site_keys(other).logs, requests_per_ip=3000)
    with pytest.raises(ValueError, match=r"firewall is in stack Other, the API in Test; fix: build both in one stack"):
        build_in(stack, firewall)


def build_in(stack: Stack, firewall: ApiFirewall) -> SiteApi:
    keys = site_keys(stack)
    return SiteApi(
        stack,
        "Api",
        site_id="plantA",
        document=load_contract(),
        functions={handler: lambda_.Function.from_function_name(stack, handler, handler) for handler in HANDLERS},
        user_pool=ApiUserPool(stack, "Users", groups=["operator"]).pool,
        firewall=firewall,
        logs_key=keys.logs,
        rate_limit_per_s=100,
        burst_limit=200,
    )


def test_the_api_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    built = build(audit_trail=True)
    assert unacknowledged_findings(built.stack) == []


def test_cdk_nag_sees_no_method_of_a_spec_api_so_our_pack_reads_the_body(default: Built) -> None:
    # APIG4 and COG4 look for methods; GxP-ApiOperationsAuthorized reads the body instead.
    assert default.template().find_resources("AWS::ApiGateway::Method") == {}
