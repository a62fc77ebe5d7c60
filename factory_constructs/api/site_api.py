"""The site's REST APIs, built from the one OpenAPI document: one for systems (IAM, SigV4), one for people
(the Cognito user pool).

API Gateway gives a REST method exactly one authorization type, and an OpenAPI operation whose ``security``
lists alternatives is imported with one of them only. The document offers every route both ways, so each
way in is its own REST API built from the same document: the routes, parameters, schemas and handlers are
the same, each body names its one security scheme per operation, and both stages sit behind one web ACL.

CDK adds what the document leaves out (``api_body``): per operation the Lambda proxy integration of its
handler and the request validator, the security scheme's API Gateway details, the endpoint's TLS policy and
access mode, and gateway responses in the document's problem shape (RFC 9457), so that errors API Gateway
answers itself (validation, authorization, throttling) look like the handlers' own.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from factory_constructs.api.api_handler.contract import METHODS, operations
from factory_constructs.api.waf import ApiFirewall
from policies.acknowledge import acknowledge, in_regulatory_packs

STAGE = "v1"
VALIDATOR = "parameters-and-body"
# TLS 1.3 and 1.2 (forward secret, post-quantum key exchange); a regional API otherwise accepts TLS 1.0.
SECURITY_POLICY = "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"
# STRICT: only requests for this API's own host name on its own endpoint type (an enhanced policy needs a mode).
ENDPOINT_ACCESS_MODE = "STRICT"
# API Gateway's bounds of a stage's default throttling (account quotas: 10,000 requests/s, burst 5,000).
MAX_RATE_PER_S, MAX_BURST = 10_000, 5_000
CLOUDWATCH_ROLE_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
LOG_RETENTION = logs.RetentionDays.THIRTEEN_MONTHS
LAMBDA_INVOCATIONS = "path/2015-03-31/functions/{function}/invocations"
# The document's security schemes, and what API Gateway needs to know of each (scheme -> construct id).
SCHEMES = {"sigv4": "Systems", "cognito": "Users"}
_AUTH_TYPES = {"sigv4": "awsSigv4", "cognito": "cognito_user_pools"}
_PATH_PARAMETER = re.compile(r"\{[^}/]+\}")
# Errors API Gateway answers itself, as problems: response type -> (status, title).
GATEWAY_RESPONSES = {
    "BAD_REQUEST_BODY": (400, "Bad Request"),
    "BAD_REQUEST_PARAMETERS": (400, "Bad Request"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "Forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Forbidden"),
    "INVALID_SIGNATURE": (403, "Forbidden"),
    "EXPIRED_TOKEN": (403, "Forbidden"),
    "WAF_FILTERED": (403, "Forbidden"),
    "THROTTLED": (429, "Too Many Requests"),
    "QUOTA_EXCEEDED": (429, "Too Many Requests"),
    "DEFAULT_4XX": (400, "Bad Request"),
    "DEFAULT_5XX": (500, "Internal Server Error"),
}
PROBLEM_MEDIA_TYPE = "application/problem+json"
# One JSON line per request: who (IAM ARN or Cognito subject), what, the outcome, and the TLS in use.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "userArn": "$context.identity.userArn",
    "sub": "$context.authorizer.claims.sub",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "wafResponseCode": "$context.wafResponseCode",
    "tlsVersion": "$context.tlsVersion",
    "cipherSuite": "$context.cipherSuite",
}


def api_body(
    document: Mapping[str, Any], *, scheme: str, integrations: Mapping[str, str], user_pool_arn: str | None = None
) -> dict[str, Any]:
    """The OpenAPI body of the REST API for ``scheme`` ("sigv4" or "cognito"): the operations that allow it,
    each with only that security requirement, its handler's Lambda proxy integration (``integrations``:
    handler -> invocation URI) and the request validator; the scheme's API Gateway details (the user pool
    for "cognito"), the TLS policy, the endpoint access mode and the gateway responses."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme {scheme!r} is not one of {', '.join(SCHEMES)}; fix: use one of them")
    if scheme == "cognito" and user_pool_arn is None:
        raise ValueError("scheme 'cognito' needs user_pool_arn; fix: pass the user pool's ARN")
    body = copy.deepcopy(dict(document))
    paths: dict[str, Any] = {}
    for path, item in body.get("paths", {}).items():
        kept = {key: value for key, value in item.items() if key not in METHODS}
        for method in METHODS:
            operation = item.get(method)
            if operation is None or not any(scheme in requirement for requirement in operation.get("security", [])):
                continue
            operation["security"] = [{scheme: []}]
            operation["x-amazon-apigateway-request-validator"] = VALIDATOR
            operation["x-amazon-apigateway-integration"] = {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": integrations[operation["x-dmc-handler"]],
                "passthroughBehavior": "when_no_match",
            }
            kept[method] = operation
        if any(method in kept for method in METHODS):
            paths[path] = kept
    body["paths"] = paths
    declared = body.get("components", {}).get("securitySchemes", {})
    security_scheme = {**declared.get(scheme, {}), "x-amazon-apigateway-authtype": _AUTH_TYPES[scheme]}
    if scheme == "cognito":
        security_scheme["x-amazon-apigateway-authorizer"] = {
            "type": "cognito_user_pools",
            "providerARNs": [user_pool_arn],
        }
    body.setdefault("components", {})["securitySchemes"] = {scheme: security_scheme}
    body["x-amazon-apigateway-request-validators"] = {
        VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": True}
    }
    body["x-amazon-apigateway-security-policy"] = SECURITY_POLICY
    body["x-amazon-apigateway-endpoint-access-mode"] = ENDPOINT_ACCESS_MODE
    body["x-amazon-apigateway-gateway-responses"] = {
        response: _problem_response(status, title) for response, (status, title) in GATEWAY_RESPONSES.items()
    }
    return body


def _problem_response(status: int, title: str) -> dict[str, Any]:
    # $context.error.messageString is the message already quoted as a JSON string.
    template = (
        f'{{"type": "about:blank", "title": "{title}", "status": {status}, "detail": $context.error.messageString}}'
    )
    return {
        "statusCode": status,
        "responseParameters": {"gatewayresponse.header.Content-Type": f"'{PROBLEM_MEDIA_TYPE}'"},
        "responseTemplates": {"application/json": template},
    }


def execute_api_path(path: str) -> str:
    """A path template as the resource part of an execute-api ARN: each ``{parameter}`` matches any value."""
    return _PATH_PARAMETER.sub("*", path)


class SiteApi(Construct):
    """The site's REST APIs from ``document`` (the OpenAPI contract; ``api_handler.contract.load_contract()``):
    ``apis["sigv4"]`` (IAM) and ``apis["cognito"]`` (the ``user_pool``), each REGIONAL, TLS 1.2 at least,
    with stage ``v1``: X-Ray tracing, metrics, execution logs at ERROR level without request data, default
    throttling ``rate_limit_per_s`` / ``burst_limit``, JSON access logs (who, what, outcome, TLS) in
    ``access_logs`` (by the same keys). Every log group is encrypted with ``logs_key`` and kept 13 months.
    Both stages are associated with ``firewall``, which must be in this construct's stack (the packs look for
    the association next to the stage).

    ``functions``: handler name -> function, exactly the handlers the document's ``x-dmc-handler`` names; each
    may be invoked by the API only for its own operations' methods and paths on the ``v1`` stage.

    API Gateway writes execution logs with the one CloudWatch role of the account and region
    (``AWS::ApiGateway::Account``); this construct sets it to a role of its own with AWS's managed policy for
    it, retained when the stack is deleted so that other sites' APIs in the account keep logging.
    ``removal_policy`` (default RETAIN): the log groups.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        document: Mapping[str, Any],
        functions: Mapping[str, lambda_.IFunction],
        user_pool: cognito.IUserPool,
        firewall: ApiFirewall,
        logs_key: kms.IKey,
        rate_limit_per_s: int,
        burst_limit: int,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        try:
            declared = operations(dict(document))
        except ValueError as error:
            problems.append(str(error))
            declared = []
        handlers = {operation.handler for operation in declared}
        missing = sorted(handlers - set(functions))
        if missing:
            problems.append(f"functions lack the handler(s) {missing} the document names; fix: pass a function each")
        unused = sorted(set(functions) - handlers)
        if unused:
            problems.append(f"functions {unused} answer no operation of the document; fix: remove them or add routes")
        for path, item in document.get("paths", {}).items():
            for method in (method for method in METHODS if method in item):
                requirements = item[method].get("security") or []
                names = [name for requirement in requirements for name in requirement]
                if not names or any(name not in SCHEMES for name in names):
                    problems.append(
                        f"{method.upper()} {path}: security {requirements!r} names none or others of the schemes "
                        f"{', '.join(SCHEMES)}; fix: allow the route through one or both of them"
                    )
        limits = (("rate_limit_per_s", rate_limit_per_s, MAX_RATE_PER_S), ("burst_limit", burst_limit, MAX_BURST))
        for name, value, most in limits:
            if not Token.is_unresolved(value) and not 1 <= value <= most:
                problems.append(f"{name} {value} is outside 1-{most}; fix: pick a limit API Gateway allows")
        if Stack.of(firewall) is not Stack.of(self):
            problems.append(
                f"firewall is in stack {Stack.of(firewall).node.path}, the API in {Stack.of(self).node.path}; "
                "fix: build both in one stack, where the packs look for the stage's web ACL"
            )
        if problems:
            raise ValueError(f"SiteApi {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        self._logs_key = logs_key
        self._removal_policy = removal_policy
        self.account = self._cloudwatch_account()
        integrations = {
            handler: stack.format_arn(
                service="apigateway",
                account="",
                resource="lambda",
                resource_name=LAMBDA_INVOCATIONS.format(function=function.function_arn),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for handler, function in functions.items()
        }
        self.apis: dict[str, apigateway.SpecRestApi] = {}
        self.access_logs: dict[str, logs.LogGroup] = {}
        for scheme, api_id in SCHEMES.items():
            body = api_body(document, scheme=scheme, integrations=integrations, user_pool_arn=user_pool.user_pool_arn)
            if not body["paths"]:
                continue
            api, self.access_logs[scheme] = self._rest_api(api_id, site_id, body, rate_limit_per_s, burst_limit)
            firewall.associate(f"{api_id}Association", api.deployment_stage.stage_arn)
            self._permit_invocations(api, scheme, body, functions)
            self.apis[scheme] = api

    def _cloudwatch_account(self) -> apigateway.CfnAccount:
        role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CLOUDWATCH_ROLE_POLICY)],
            description="API Gateway's CloudWatch Logs role for the account and region (execution logs)",
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            role,
            f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{CLOUDWATCH_ROLE_POLICY}]",
            "API Gateway writes the execution logs of every REST API in the account and region with this one "
            "role, into log groups it names per API; AWS keeps this policy to exactly those log writes.",
        )
        account = apigateway.CfnAccount(self, "Account", cloud_watch_role_arn=role.role_arn)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        return account

    def _log_group(self, construct_id: str, name: str | None = None) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            encryption_key=self._logs_key,
            retention=LOG_RETENTION,
            removal_policy=self._removal_policy,
        )

    def _rest_api(
        self, api_id: str, site_id: str, body: dict[str, Any], rate_limit_per_s: int, burst_limit: int
    ) -> tuple[apigateway.SpecRestApi, logs.LogGroup]:
        """The REST API of ``body``, and its access log group."""
        access_logs = self._log_group(f"{api_id}AccessLogs")
        api = apigateway.SpecRestApi(
            self,
            api_id,
            rest_api_name=f"{site_id}-{api_id.lower()}",
            description=f"Site API of {site_id} for {api_id.lower()}",
            api_definition=apigateway.ApiDefinition.from_inline(body),
            # The document is the whole definition: a route removed from it disappears from the API.
            mode=apigateway.RestApiMode.OVERWRITE,
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            parameters={"endpointConfigurationTypes": "REGIONAL"},
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                # Request and response bodies hold plant data and tokens: never in execution logs.
                data_trace_enabled=False,
                throttling_rate_limit=rate_limit_per_s,
                throttling_burst_limit=burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        cfn = api.node.default_child
        assert isinstance(cfn, apigateway.CfnRestApi)
        cfn.security_policy = SECURITY_POLICY
        cfn.endpoint_access_mode = ENDPOINT_ACCESS_MODE
        # API Gateway would create this group itself, unencrypted and kept for ever, on the first error.
        execution_logs = self._log_group(
            f"{api_id}ExecutionLogs", f"API-Gateway-Execution-Logs_{api.rest_api_id}/{STAGE}"
        )
        api.deployment_stage.node.add_dependency(self.account, execution_logs)
        stage = api.deployment_stage.node.default_child
        assert isinstance(stage, apigateway.CfnStage)
        self._acknowledge_stage(stage)
        acknowledge(
            cfn,
            "AwsSolutions::AwsSolutions-APIG2",
            "Every operation of the OpenAPI body names the body's request validator, which checks parameters "
            "and body (GxP-ApiRequestsValidated proves it); a separate RequestValidator resource would be "
            "removed by the next import of the body, which overwrites the API.",
            backed_by=["GxP::GxP-ApiRequestsValidated"],
        )
        return api, access_logs

    def _acknowledge_stage(self, stage: apigateway.CfnStage) -> None:
        acknowledge(
            stage,
            in_regulatory_packs("APIGWCacheEnabledAndEncrypted"),
            "No route is cached, by decision per route: latest values, history, OEE, alerts and command state "
            "must be current, commands are writes, and the catalog and datasets routes check the caller's group "
            "in the handler, which a stage cache answering before the handler would bypass.",
        )
        acknowledge(
            stage,
            in_regulatory_packs("APIGWSSLEnabled"),
            "A stage's client certificate authenticates API Gateway to HTTP backends; every route here is a "
            "Lambda proxy integration, invoked through AWS's own signed API, so no backend could check one.",
        )

    def _permit_invocations(
        self,
        api: apigateway.SpecRestApi,
        scheme: str,
        body: Mapping[str, Any],
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        """Each function may be invoked by this API only for its own operations, on the stage."""
        stack = Stack.of(self)
        for path, item in body["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                operation = item[method]
                functions[operation["x-dmc-handler"]].add_permission(
                    f"{SCHEMES[scheme]}{operation['operationId'][0].upper()}{operation['operationId'][1:]}",
                    principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
                    source_arn=api.arn_for_execute_api(method.upper(), execute_api_path(path), STAGE),
                    source_account=stack.account,
                )
