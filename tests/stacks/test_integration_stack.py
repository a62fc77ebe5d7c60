"""Integration nested stack of every example site: the contract (every route and method of the OpenAPI document
in both REST APIs, with its authorizer, validator and handler function), and the security properties: auth per
method, WAF, logging, encryption, VPC placement; the KPI forwarding of a site that names a destination."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from factory_constructs.api.api_handler.contract import HANDLERS, load_contract, operations
from policies import tag_keys
from stacks.site_app import build
from synth_helpers import example_sites, synth, variant

pytestmark = pytest.mark.synth

SITES = ("plantA", "plantB", "plantC")
AUTH_TYPES = {"sigv4": "awsSigv4", "cognito": "cognito_user_pools"}


@pytest.fixture(scope="module")
def templates(site_stack) -> dict[str, dict[str, Any]]:
    """Each example site's Integration template, as CloudFormation receives it."""
    found = {}
    for site in SITES:
        stack = site_stack(site)
        assert stack.integration is not None
        path = Path(stack.node.root.outdir) / stack.integration.template_file
        found[site] = json.loads(path.read_text(encoding="utf-8"))
    return found


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def apis(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scheme -> the body of the REST API that uses it."""
    found = {}
    for api in resources(template, "AWS::ApiGateway::RestApi").values():
        body = api["Properties"]["Body"]
        (scheme,) = body["components"]["securitySchemes"]
        found[scheme] = body
    return found


def function_of(template: dict[str, Any], handler: str) -> str:
    """Logical id of the function running ``api_handler.entry.<handler>``."""
    (logical_id,) = [
        logical_id
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == f"api_handler.entry.{handler}"
    ]
    return logical_id


@pytest.mark.parametrize("site", SITES)
def test_every_route_and_method_of_the_document_is_in_both_apis_with_its_authorizer_validator_and_handler(
    templates, site
) -> None:
    template = templates[site]
    (pool,) = resources(template, "AWS::Cognito::UserPool")
    bodies = apis(template)
    assert sorted(bodies) == ["cognito", "sigv4"]
    for scheme, body in bodies.items():
        security_scheme = body["components"]["securitySchemes"][scheme]
        assert security_scheme["x-amazon-apigateway-authtype"] == AUTH_TYPES[scheme]
        if scheme == "cognito":
            assert security_scheme["x-amazon-apigateway-authorizer"] == {
                "type": "cognito_user_pools",
                "providerARNs": [{"Fn::GetAtt": [pool, "Arn"]}],
            }
        validators = body["x-amazon-apigateway-request-validators"]
        for operation in operations(load_contract()):
            where = f"{scheme} {operation.method} {operation.path}"
            spec = body["paths"][operation.path][operation.method.lower()]
            assert spec["security"] == [{scheme: []}], where
            assert validators[spec["x-amazon-apigateway-request-validator"]] == {
                "validateRequestBody": True,
                "validateRequestParameters": True,
            }, where
            integration = spec["x-amazon-apigateway-integration"]
            assert (integration["type"], integration["httpMethod"]) == ("aws_proxy", "POST"), where
            assert {"Fn::GetAtt": [function_of(template, operation.handler), "Arn"]} in integration["uri"]["Fn::Join"][
                1
            ], where


@pytest.mark.parametrize("site", SITES)
def test_the_apis_serve_no_operation_the_document_lacks_and_every_route_handler_answers_some(templates, site) -> None:
    declared = sorted((operation.method, operation.path) for operation in operations(load_contract()))
    for body in apis(templates[site]).values():
        assert sorted((operation.method, operation.path) for operation in operations(body)) == declared
    assert sorted({operation.handler for operation in operations(load_contract())}) == sorted(HANDLERS)


@pytest.mark.parametrize("site", SITES)
def test_both_stages_are_behind_the_web_acl_of_their_own_stack_which_logs(templates, site) -> None:
    template = templates[site]
    (acl,) = resources(template, "AWS::WAFv2::WebACL")
    stages = resources(template, "AWS::ApiGateway::Stage")
    associated = {
        association["Properties"]["ResourceArn"]["Fn::Join"][1][-1]["Ref"]
        for association in resources(template, "AWS::WAFv2::WebACLAssociation").values()
        if association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    }
    assert associated == set(stages)
    (logging,) = resources(template, "AWS::WAFv2::LoggingConfiguration").values()
    assert logging["Properties"]["ResourceArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    assert f"log-group:aws-waf-logs-{site}-api" in json.dumps(logging["Properties"]["LogDestinationConfigs"])


@pytest.mark.parametrize("site", SITES)
def test_stages_log_access_and_errors_to_encrypted_groups_and_trace(templates, site) -> None:
    template = templates[site]
    groups = resources(template, "AWS::Logs::LogGroup")
    assert all("KmsKeyId" in group["Properties"] for group in groups.values())
    for stage in resources(template, "AWS::ApiGateway::Stage").values():
        properties = stage["Properties"]
        assert properties["TracingEnabled"] is True
        (setting,) = properties["MethodSettings"]
        assert (setting["LoggingLevel"], setting["DataTraceEnabled"]) == ("ERROR", False)
        destination = properties["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
        assert destination in groups
        assert json.loads(properties["AccessLogSetting"]["Format"])["requestId"] == "$context.requestId"


@pytest.mark.parametrize("site", SITES)
def test_tables_queue_results_and_environments_are_encrypted_with_the_site_data_key(templates, site) -> None:
    template = templates[site]
    # The Foundation stack's data key, handed over as a parameter.
    (parameter,) = [name for name in template["Parameters"] if "FoundationKeysData" in name]
    data_key = {"Ref": parameter}
    for table in resources(template, "AWS::DynamoDB::GlobalTable").values():
        assert table["Properties"]["Replicas"][0]["SSESpecification"] == {"KMSMasterKeyId": data_key}
    (queue,) = resources(template, "AWS::SQS::Queue").values()
    assert queue["Properties"]["KmsMasterKeyId"] == data_key
    (bucket,) = resources(template, "AWS::S3::Bucket").values()
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key}
    assert {
        json.dumps(function["Properties"]["KmsKeyArn"])
        for function in resources(template, "AWS::Lambda::Function").values()
    } == {json.dumps(data_key)}


@pytest.mark.parametrize("site", SITES)
def test_every_function_runs_in_the_site_vpc_private_subnets_behind_the_function_security_group(
    templates, site
) -> None:
    template = templates[site]
    functions = resources(template, "AWS::Lambda::Function")
    assert len(functions) == 7
    for function in functions.values():
        config = function["Properties"]["VpcConfig"]
        (group,) = config["SecurityGroupIds"]
        assert "FunctionSecurityGroup" in group["Ref"]
        assert config["SubnetIds"] and all("PrivateSubnet" in subnet["Ref"] for subnet in config["SubnetIds"])


@pytest.mark.parametrize("site", SITES)
def test_tables_and_the_user_pool_of_an_audit_or_retained_site_survive_the_stack(templates, site) -> None:
    template = templates[site]
    retained = [
        *resources(template, "AWS::DynamoDB::GlobalTable").values(),
        *resources(template, "AWS::Cognito::UserPool").values(),
        *resources(template, "AWS::S3::Bucket").values(),
    ]
    assert {resource["DeletionPolicy"] for resource in retained} == {"Retain"}


def test_a_site_without_the_integration_api_has_no_integration_stack(tmp_path) -> None:
    site = variant(example_sites()["plantC"], features={"integration_api": False})
    app = App(outdir=str(tmp_path), context={"site": "plantC"})
    (stack,) = build(app, {"plantC": site})
    assert stack.integration is None
    assert stack.node.try_find_child("Integration") is None


def test_a_site_naming_a_kpi_destination_forwards_only_kpi_summaries_there(tmp_path) -> None:
    destination = "arn:aws:events:eu-west-1:210987654321:event-bus/command-center"
    site = variant(example_sites()["plantA"], integration={"kpi_destination_bus_arn": destination})
    _, (stack,) = synth({"plantA": site}, tmp_path)  # under the gate: the residency pack accepts eu-west-1
    assert stack.integration is not None
    template = json.loads((tmp_path / stack.integration.template_file).read_text(encoding="utf-8"))
    (rule,) = [
        rule
        for rule in resources(template, "AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == destination
    ]
    assert rule["Properties"]["EventPattern"]["detail-type"] == ["dmc.kpi-summary"]
    assert {"Key": tag_keys.DATA_REGIONS, "Value": "eu-central-1 eu-west-1"} in rule["Properties"]["Tags"]
