"""The site API's DynamoDB tables: latest values, commands with their audit, recent alerts."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from factory_constructs.api.api_handler.latest_store import LINE_INDEX as BY_LINE_INDEX
from policies import tag_keys

# Keys the handlers read and write (api_handler's latest_store, command_store and alert_recorder).
LATEST_KEY = "path"
BY_LINE_KEY = "line_path"
COMMAND_KEY = "command_id"
ALERT_KEY, ALERT_SORT_KEY = "site", "at_id"
ALERT_EXPIRY = "expires_at"
# Actions that change items: a grant holding one of them also needs the key to encrypt.
_WRITES = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"})


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class ApiTables(Construct):
    """``latest`` (one item per tag path, index ``by_line`` by "area/line" then path), ``commands`` (one item per
    command, its audit result added when the gateway answers) and ``alerts`` (per site, sorted by
    "<ISO time>#<event id>", expired through ``expires_at``).

    All three are on-demand, encrypted with ``key`` and keep point-in-time recovery (35 days): the commands
    and alerts are records, and the latest values are the catalog the API serves, which a replay of the
    stream could rebuild only for tags that changed within the stream's retention.
    ``removal_policy`` (default RETAIN): RETAIN also turns on deletion protection, so a table cannot be
    deleted by hand either. Grant access with ``grant``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        retained = removal_policy == RemovalPolicy.RETAIN

        def table(
            construct_id: str,
            partition: str,
            *,
            sort_key: str | None = None,
            indexes: list[dynamodb.GlobalSecondaryIndexPropsV2] | None = None,
            expiry: str | None = None,
        ) -> dynamodb.TableV2:
            return dynamodb.TableV2(
                self,
                construct_id,
                partition_key=_string(partition),
                sort_key=_string(sort_key) if sort_key else None,
                global_secondary_indexes=indexes,
                time_to_live_attribute=expiry,
                encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                deletion_protection=retained,
                removal_policy=removal_policy,
            )

        self.latest = table(
            "Latest",
            LATEST_KEY,
            indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=BY_LINE_INDEX, partition_key=_string(BY_LINE_KEY), sort_key=_string(LATEST_KEY)
                )
            ],
        )
        self.commands = table("Commands", COMMAND_KEY)
        # Each command with who sent it and the gateway's answer: an audit record (GxP-AuditTablePitr).
        Tags.of(self.commands).add(tag_keys.RECORD, tag_keys.AUDIT_RECORD)
        self.alerts = table("Alerts", ALERT_KEY, sort_key=ALERT_SORT_KEY, expiry=ALERT_EXPIRY)

    def grant(self, grantee: iam.IGrantable, table: dynamodb.TableV2, *actions: str) -> iam.Grant:
        """``actions`` on ``table`` and its indexes, and the key as they need it: decrypt to read, also
        encrypt to write."""
        if table not in (self.latest, self.commands, self.alerts):
            raise ValueError(
                f"table {table.node.path} is not one of these tables; fix: pass latest, commands or alerts"
            )
        if not actions or any(not action.startswith("dynamodb:") for action in actions):
            raise ValueError(f"actions {list(actions)} are not DynamoDB actions; fix: name e.g. dynamodb:GetItem")
        if _WRITES.intersection(actions):
            self._key.grant_encrypt_decrypt(grantee)
        else:
            self._key.grant_decrypt(grantee)
        resources = [table.table_arn]
        if table is self.latest and "dynamodb:Query" in actions:
            resources.append(f"{table.table_arn}/index/{BY_LINE_INDEX}")
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=resources)
