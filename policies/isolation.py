"""The isolation proof: over every synthesized template of every site, no principal of one site is granted
anything on another site's resources, and every wildcard resource is on ``WILDCARDS`` with its reason.

What it reads, per site (a top-level stack and its nested stacks, found through the cloud assembly):

* every Allow statement of every policy document (identity policies, trust policies, resource policies,
  key policies, IoT policies, documents held as JSON strings): each resource must be the site's own;
* topic rules (the topic filter they read), event rules (their targets), Greengrass deployments (their
  target), Lambda permissions (their source ARN);
* every literal string: none may name another site.

"The site's own" means: a reference (``Ref``/``Fn::GetAtt``) inside the site's templates, optionally with a
suffix (``<bucket arn>/*``); or an ARN built in the template whose resource part, before any wildcard, holds
one of the site's names (its id, its thing group, its gateways) as a whole segment, a reference into the
site's templates, or the connected thing itself (an IoT policy variable), in the site's account.
A value imported from another stack (``Fn::ImportValue``) is never the site's own: exports are global to an
account and region. Two sites in one account and region must also not give a resource the same physical
name (the second deployment would fail or, worse, adopt nothing and share the first site's).

``python -m policies.isolation [cdk.out] [--tenants DIR]`` prints each breach and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.documents import policy_documents
from site_model import Site, load_sites

SHARED_ACCOUNT = "${account}"
# An IoT policy variable: the connected thing itself. Only the site's gateways hold the site's IoT policy.
_THING_ITSELF = "${iot:Connection.Thing.ThingName}"


@dataclass(frozen=True)
class Wildcard:
    """Actions that may be granted on every resource (``"*"``), and why that is not a breach."""

    actions: frozenset[str]
    reason: str


WILDCARDS: tuple[Wildcard, ...] = (
    Wildcard(
        frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}),
        "X-Ray trace segments and telemetry have no resource ARN (X-Ray supports no resource-level permissions).",
    ),
    Wildcard(
        frozenset(
            {
                "greengrass:GetComponentVersionArtifact",
                "greengrass:ResolveComponentCandidates",
                "greengrass:GetDeploymentConfiguration",
                "greengrass:ListThingGroupsForCoreDevice",
            }
        ),
        "The Greengrass core's data-plane actions take no resource (AWS IoT Greengrass v2 developer guide, "
        "'Minimal AWS IoT policy for AWS IoT Greengrass V2 core devices'); the core reaches only its own deployments.",
    ),
    Wildcard(
        frozenset({"greengrass:ListDeployments", "greengrass:CreateDeployment"}),
        "IAM defines no resource type for these Greengrass actions; a deployment's target is bounded by the "
        "dependent iot:CreateJob, which the model release may call only on its own site's thing group.",
    ),
    Wildcard(
        frozenset({"ec2:DescribeManagedPrefixLists"}),
        "IAM defines no resource type for this read-only EC2 action; the network's deploy-time lookup reads only "
        "the AWS-managed prefix lists of S3 and DynamoDB, which are the same public metadata for every account.",
    ),
)


@dataclass(frozen=True)
class Shared:
    """An account-wide resource that sites reach by design, named by a pattern of its ARN's resource part."""

    service: str
    resource: re.Pattern[str]
    reason: str


SHARED: tuple[Shared, ...] = (
    Shared(
        "greengrass",
        re.compile(r"components:com\.dmc\.Model\.\*(:versions:\*)?"),
        "Greengrass component names are per account and region, and model components are named by their model. "
        "A component version is immutable: creating one cannot change or remove another site's versions, and a "
        "site's gateways run only what its own thing group's deployment names.",
    ),
    Shared(
        "greengrass",
        re.compile(r"deployments:\*"),
        "Greengrass generates deployment ids, so no ARN names a site's deployment in advance. Read-only "
        "(GetDeployment); the model release reads the deployment of its own thing group to revise it.",
    ),
    Shared(
        "iot",
        re.compile(r"job/\*"),
        "Greengrass generates the id of each deployment's IoT job, so no ARN names it in advance; the job actions "
        "are the ones Greengrass requires to replace a deployment revision. Residual: they could reach another "
        "site's deployment job in the same account; only the release function, run by its own approval rule, "
        "holds them.",
    ),
    Shared(
        "iam",
        re.compile(r"root"),
        "The site's own account as a key-policy principal delegates to the account's IAM policies, which this "
        "proof checks one by one.",
    ),
    Shared(
        "glue",
        re.compile(r"catalog"),
        "The account's Glue Data Catalog: Glue checks access to a database on the catalog as well.",
    ),
    Shared(
        "s3",
        re.compile(r"cdk-[a-z0-9]+-assets-\$\{account\}-[a-z0-9-]+(/\*)?"),
        "The CDK bootstrap bucket of the account and region: it holds deployment assets (code: Glue scripts, "
        "Greengrass component artifacts), not plant data.",
    ),
    Shared(
        "logs",
        re.compile(r"log-group:/aws-glue/iceberg-(compaction|retention|orphan-file-deletion)/logs(:\*)?"),
        "Log groups AWS Glue's table optimizers write to; AWS fixes their names per account and region.",
    ),
)


@dataclass(frozen=True)
class SiteTemplates:
    """One site's synthesized templates (file name -> template) and the names that are the site's own."""

    site: str
    account: str | None
    region: str
    names: frozenset[str]
    templates: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Breach:
    site: str
    template: str
    resource: str
    problem: str

    def __str__(self) -> str:
        return f"{self.site}: {self.template} {self.resource}: {self.problem}"


def site_names(site: Site) -> frozenset[str]:
    """The segments that mark a resource as ``site``'s: its id, its thing group and its gateways."""
    return frozenset({site.id, site.edge.thing_group, *site.edge.gateways})


def assembly_sites(assembly: Path, sites: Mapping[str, Site]) -> list[SiteTemplates]:
    """Each site stack of the cloud ``assembly`` with its nested templates; ``sites`` by id (the stack's name)."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    found = []
    for name, artifact in sorted(manifest["artifacts"].items()):
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        if name not in sites:
            raise ValueError(
                f"stack {name} is not a site of the tenants folder; fix: pass the folder it was built from"
            )
        files = [artifact["properties"]["templateFile"]]
        assets = assembly / f"{name}.assets.json"
        if assets.exists():
            files += sorted(
                entry["source"]["path"]
                for entry in json.loads(assets.read_text()).get("files", {}).values()
                if entry["source"]["path"].endswith(".nested.template.json")
            )
        site = sites[name]
        found.append(
            SiteTemplates(
                site=name,
                account=site.account,
                region=artifact["environment"].rsplit("/", 1)[-1],
                names=site_names(site),
                templates={file: json.loads((assembly / file).read_text()) for file in files},
            )
        )
    return found


def isolation_breaches(sites: Sequence[SiteTemplates]) -> list[Breach]:
    """Every breach of isolation among ``sites`` (synthesized together or apart), as one estate."""
    breaches: list[Breach] = []
    for site in sites:
        others = {other.site for other in sites if other.site != site.site}
        for file, template in site.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                checks = _ResourceCheck(site, file, logical_id, resource, others)
                breaches += checks.run()
    breaches += _name_collisions(sites)
    return breaches


class _ResourceCheck:
    def __init__(
        self, site: SiteTemplates, file: str, logical_id: str, resource: Mapping[str, Any], others: set[str]
    ) -> None:
        self.site, self.file, self.logical_id, self.resource, self.others = site, file, logical_id, resource, others
        self.breaches: list[Breach] = []

    def breach(self, problem: str) -> None:
        self.breaches.append(Breach(self.site.site, self.file, f"{self.logical_id} ({self.resource['Type']})", problem))

    def run(self) -> list[Breach]:
        properties = self.resource.get("Properties", {})
        if _contains(properties, "Fn::ImportValue"):
            self.breach("imports a value exported by another stack; fix: pass the site's own resource instead")
        for text in _literals(properties):
            for other in self.others:
                if other.lower() in _segments(text):
                    self.breach(f"names site {other} in {text!r}; fix: reach only this site's resources")
        for document in policy_documents(properties):
            for statement in _as_list(document.get("Statement")):
                if statement.get("Effect") == "Allow":
                    self.statement(statement)
        kind = self.resource["Type"]
        if kind == "AWS::IoT::TopicRule":
            self.topic_rule(properties)
        elif kind == "AWS::Events::Rule":
            for target in properties.get("Targets", []):
                self.own(target.get("Arn"), "event rule target")
        elif kind in ("AWS::GreengrassV2::Deployment", "Custom::GreengrassDeployment"):
            self.own(properties.get("TargetArn"), "deployment target")
        elif kind == "AWS::Lambda::Permission" and "SourceArn" in properties:
            self.own(properties["SourceArn"], "invoking source")
        return self.breaches

    def statement(self, statement: Mapping[str, Any]) -> None:
        actions = frozenset(_as_list(statement.get("Action")))
        for key in ("Resource", "NotResource"):
            for value in _as_list(statement.get(key)):
                if value == "*":
                    if self.resource["Type"] == "AWS::KMS::Key":
                        continue  # in a key policy "*" is the key itself
                    if key == "Resource" and any(actions <= wildcard.actions for wildcard in WILDCARDS):
                        continue
                    self.breach(
                        f"grants {sorted(actions)} on every resource; fix: scope the statement to the site's "
                        "resources, or add the actions to policies/isolation.py WILDCARDS with the reason"
                    )
                else:
                    self.own(value, f"statement resource for {sorted(actions)}")
        principal = statement.get("Principal")
        if isinstance(principal, Mapping):
            for value in _as_list(principal.get("AWS")):
                if value == "*":
                    if not _account_condition(statement.get("Condition", {})):
                        self.breach("allows any AWS principal without an account condition; fix: name the principal")
                else:
                    self.own(value, "principal")

    def topic_rule(self, properties: Mapping[str, Any]) -> None:
        sql = properties.get("TopicRulePayload", {}).get("Sql", "")
        for topic in re.findall(r"FROM\s+'([^']*)'", sql, flags=re.IGNORECASE):
            if not set(_segments(topic.split("+")[0].split("#")[0])) & {name.lower() for name in self.site.names}:
                self.breach(
                    f"reads topic filter {topic!r}, which is not under the site's names; fix: read dmc/<site>/..."
                )

    def own(self, value: Any, role: str) -> None:
        """A breach unless ``value`` is a reference into the site's templates or an ARN of the site's."""
        if value is None:
            return
        rendered = _render(value)
        if rendered.startswith("{ref:"):
            return
        problem = self.foreign(rendered)
        if problem:
            self.breach(f"{role} {rendered!r} {problem}")

    def foreign(self, arn: str) -> str | None:
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            return "is not an ARN of the site; fix: refer to the site's resource"
        service, account, resource = parts[2], parts[4], parts[5]
        if account not in ("", SHARED_ACCOUNT, self.site.account):
            return f"is in account {account}; fix: grant only within the site's account"
        if self.site.account:
            resource = resource.replace(self.site.account, SHARED_ACCOUNT)
        if any(service == shared.service and shared.resource.fullmatch(resource) for shared in SHARED):
            return None
        scope = resource.split("*")[0]
        if "{ref:" in scope or _THING_ITSELF in scope:
            return None
        if set(_segments(scope)) & {name.lower() for name in self.site.names}:
            return None
        return (
            "is not scoped to the site's names before its first wildcard; fix: name the site's resource, "
            "or add an account-wide resource to policies/isolation.py SHARED with the reason"
        )


def _name_collisions(sites: Sequence[SiteTemplates]) -> list[Breach]:
    """Physical names two sites in one region give resources of the same type (sites without an account
    may share one)."""
    owners: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    breaches = []
    for site in sites:
        for file, template in site.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                for name in _physical_names(resource["Type"], resource.get("Properties", {})):
                    key = (site.region, resource["Type"], name)
                    first = owners.setdefault(key, (site.site, file, logical_id))
                    if first[0] != site.site:
                        breaches.append(
                            Breach(
                                site.site,
                                file,
                                f"{logical_id} ({resource['Type']})",
                                f"has the physical name {name!r} that site {first[0]} also uses ({first[2]}); "
                                "fix: put the site id in the name",
                            )
                        )
    return breaches


# Resource types whose name is unique per account and region (or account, or everywhere), with the
# property holding it: two sites in one account and region must not give one the same name.
UNIQUE_NAMES: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName",),
    "AWS::KMS::Alias": ("AliasName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Kinesis::Stream": ("Name",),
    "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName",),
    "AWS::DynamoDB::Table": ("TableName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::Events::EventBus": ("Name",),
    "AWS::Events::Rule": ("Name",),
    "AWS::Events::Archive": ("ArchiveName",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Glue::Job": ("Name",),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::IoT::Policy": ("PolicyName",),
    "AWS::IoT::TopicRule": ("RuleName",),
    "AWS::IoT::RoleAlias": ("RoleAlias",),
    "AWS::IoT::ThingGroup": ("ThingGroupName",),
    "AWS::IoT::Thing": ("ThingName",),
    "AWS::WAFv2::WebACL": ("Name",),
    "AWS::Cognito::UserPoolDomain": ("Domain",),
    "AWS::SageMaker::Domain": ("DomainName",),
    "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupName",),
    "AWS::SageMaker::StudioLifecycleConfig": ("StudioLifecycleConfigName",),
    "AWS::CloudTrail::Trail": ("TrailName",),
    "AWS::Config::ConfigRule": ("ConfigRuleName",),
    "AWS::Backup::BackupVault": ("BackupVaultName",),
    "AWS::Backup::BackupPlan": ("BackupPlan", "BackupPlanName"),
}


def _physical_names(kind: str, properties: Mapping[str, Any]) -> Iterator[str]:
    if kind == "AWS::GreengrassV2::ComponentVersion":
        # A component version is named by its recipe, once per account and region.
        recipe = properties.get("InlineRecipe")
        if isinstance(recipe, str):
            parsed = json.loads(recipe)
            yield f"{parsed.get('ComponentName')} {parsed.get('ComponentVersion')}"
        return
    value: Any = properties
    for key in UNIQUE_NAMES.get(kind, ()):
        value = value.get(key) if isinstance(value, Mapping) else None
    if kind in UNIQUE_NAMES and value is not None:
        name = _render(value)
        if "{ref:" not in name:  # a name built from one of the site's own resources is the site's alone
            yield name


def _render(value: Any) -> str:
    """A CloudFormation value as text: pseudo parameters by their meaning, other references as ``{ref:<id>}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return {"AWS::Partition": "aws", "AWS::AccountId": SHARED_ACCOUNT, "AWS::Region": "${region}"}.get(
                argument, f"{{ref:{argument}}}"
            )
        if function == "Fn::GetAtt":
            return f"{{ref:{argument[0] if isinstance(argument, list) else argument}}}"
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(_render(item) for item in items)
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            variables = {} if isinstance(argument, str) else argument[1]
            return re.sub(
                r"\$\{([^}!]+)\}",
                lambda match: _render(variables.get(match[1], {"Ref": match[1].split(".")[0]})),
                text,
            )
        if function == "Fn::ImportValue":
            return "{import}"
    return json.dumps(value, sort_keys=True)


def _segments(text: str) -> list[str]:
    return [segment for segment in re.split(r"[^A-Za-z0-9]+", text.lower()) if segment]


def _account_condition(condition: Mapping[str, Any]) -> bool:
    keys = {key.lower() for operator in condition.values() if isinstance(operator, Mapping) for key in operator}
    return bool(keys & {"aws:sourceaccount", "aws:principalaccount", "aws:sourceowner", "aws:sourcearn"})


def _literals(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _literals(value)
    elif isinstance(node, list):
        for value in node:
            yield from _literals(value)


def _contains(node: Any, function: str) -> bool:
    if isinstance(node, Mapping):
        return function in node or any(_contains(value, function) for value in node.values())
    if isinstance(node, list):
        return any(_contains(value, function) for value in node)
    return False


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assembly", nargs="?", default="cdk.out", type=Path)
    parser.add_argument("--tenants", type=Path, help="the folder of site files the assembly was built from")
    args = parser.parse_args(argv)
    sites = load_sites(args.tenants) if args.tenants else load_sites()
    breaches = isolation_breaches(assembly_sites(args.assembly, sites))
    for breach in breaches:
        print(breach, file=sys.stderr)
    print(f"isolation: {len(breaches)} breaches")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
