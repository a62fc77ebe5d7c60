"""AWS Config managed rules that watch a site's deployed resources between deployments, per regime.

Which rules: chosen from AWS's conformance packs in awslabs/aws-config-rules, folder
``aws-config-conformance-packs/``: "Operational Best Practices for FDA Title 21 CFR Part 11"
(``Operational-Best-Practices-for-FDA-21CFR-Part-11.yaml``, read at commit b1b9ad5b) and "... for GxP EU
Annex 11" (``Operational-Best-Practices-for-GxP-EU-Annex-11.yaml``, read at commit 85539be5). ``packs`` names
the pack files that list a rule. Of those lists we take the rules that

* evaluate one resource when it changes (so a rule can be scoped to the site by its ``dmc:site`` tag; the
  account-wide, periodic rules such as ``CLOUD_TRAIL_ENABLED`` cannot be, and our synth rules check what they
  would: GxP-TrailDataEvents, the AuditTrail construct), and
* look at a resource type the site deploys, and pass on every resource of the site by design (a rule that
  would report a known, acknowledged exception forever, e.g. ``S3_BUCKET_LOGGING_ENABLED`` on the access-log
  bucket, is left out: the acknowledgment and its reason are in the synth's evidence instead).

Which clause: the pack files name no clause (AWS publishes their clause tables online only). The clause of
each rule is this project's reading of the regulation, stated here once, with the clause ids of
policies/clauses.py. GDPR has no AWS pack of its own: its Art. 32 rules are taken from the two packs' lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aws_cdk import Token
from aws_cdk import aws_config as config
from constructs import Construct

from policies import tag_keys

PART_11_PACK = "Operational-Best-Practices-for-FDA-21CFR-Part-11.yaml"
ANNEX_11_PACK = "Operational-Best-Practices-for-GxP-EU-Annex-11.yaml"
BACKUP_PLAN_CHECK = "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK"


@dataclass(frozen=True)
class ManagedRuleChoice:
    """One AWS managed Config rule a regime gets, the clauses it watches and the packs that list it."""

    identifier: str  # the managed rule's SourceIdentifier
    clauses: tuple[str, ...]
    packs: tuple[str, ...]


def _choice(identifier: str, clauses: tuple[str, ...], *packs: str) -> ManagedRuleChoice:
    return ManagedRuleChoice(identifier, clauses, packs)


_BOTH = (PART_11_PACK, ANNEX_11_PACK)

# regime -> the managed rules it gets, each with the clauses it maps to (our reading, see above).
CONFIG_RULES: dict[str, tuple[ManagedRuleChoice, ...]] = {
    "fda-21-cfr-part-11": (
        _choice("S3_BUCKET_VERSIONING_ENABLED", ("21 CFR 11.10(c)", "21 CFR 11.10(e)"), *_BOTH),
        _choice("S3_BUCKET_PUBLIC_READ_PROHIBITED", ("21 CFR 11.10(d)",), *_BOTH),
        _choice("S3_BUCKET_PUBLIC_WRITE_PROHIBITED", ("21 CFR 11.10(c)", "21 CFR 11.10(d)"), *_BOTH),
        _choice("S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", ("21 CFR 11.30",), *_BOTH),
        _choice("S3_BUCKET_SSL_REQUESTS_ONLY", ("21 CFR 11.30",), PART_11_PACK),
        _choice("DYNAMODB_PITR_ENABLED", ("21 CFR 11.10(c)",), *_BOTH),
        _choice("DYNAMODB_TABLE_ENCRYPTED_KMS", ("21 CFR 11.30",), *_BOTH),
        _choice("KMS_CMK_NOT_SCHEDULED_FOR_DELETION", ("21 CFR 11.10(c)",), PART_11_PACK),
        _choice("SNS_ENCRYPTED_KMS", ("21 CFR 11.30",), *_BOTH),
        _choice("LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED", ("21 CFR 11.10(d)",), PART_11_PACK),
        _choice("INCOMING_SSH_DISABLED", ("21 CFR 11.10(d)",), PART_11_PACK),
        _choice("API_GW_EXECUTION_LOGGING_ENABLED", ("21 CFR 11.10(e)",), PART_11_PACK),
    ),
    "eu-gmp-annex-11": (
        _choice("S3_BUCKET_VERSIONING_ENABLED", ("Annex 11 §7.1",), *_BOTH),
        _choice("S3_BUCKET_ACL_PROHIBITED", ("Annex 11 §12.1",), ANNEX_11_PACK),
        _choice("S3_BUCKET_PUBLIC_READ_PROHIBITED", ("Annex 11 §12.1",), *_BOTH),
        _choice("S3_BUCKET_PUBLIC_WRITE_PROHIBITED", ("Annex 11 §7.1", "Annex 11 §12.1"), *_BOTH),
        _choice("S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", ("Annex 11 §7.1",), *_BOTH),
        _choice("DYNAMODB_PITR_ENABLED", ("Annex 11 §7.1", "Annex 11 §7.2"), *_BOTH),
        _choice("DYNAMODB_TABLE_ENCRYPTED_KMS", ("Annex 11 §7.1",), *_BOTH),
        _choice("SNS_ENCRYPTED_KMS", ("Annex 11 §7.1",), *_BOTH),
        _choice("BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED", ("Annex 11 §7.2",), ANNEX_11_PACK),
        _choice(BACKUP_PLAN_CHECK, ("Annex 11 §7.2",), ANNEX_11_PACK),
    ),
    "gdpr": (
        _choice("S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", ("GDPR Art. 32",), *_BOTH),
        _choice("S3_BUCKET_SSL_REQUESTS_ONLY", ("GDPR Art. 32",), PART_11_PACK),
        _choice("DYNAMODB_TABLE_ENCRYPTED_KMS", ("GDPR Art. 32",), *_BOTH),
        _choice("SNS_ENCRYPTED_KMS", ("GDPR Art. 32",), *_BOTH),
    ),
    "none": (),
}

# AWS Config's rule for rule names (PutConfigRule): up to 128 letters, digits, '-' and '_'.
RULE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def config_rules_for(regimes: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Managed rule identifier -> the clauses it watches for ``regimes`` (each rule once, clauses merged)."""
    rules: dict[str, list[str]] = {}
    for regime in regimes:
        for choice in CONFIG_RULES[regime]:
            merged = rules.setdefault(choice.identifier, [])
            merged += [clause for clause in choice.clauses if clause not in merged]
    return {identifier: tuple(clauses) for identifier, clauses in rules.items()}


def config_rule_name(site_id: str, identifier: str) -> str:
    """The rule's name in the account: the site, then the managed rule in AWS's own kebab-case spelling."""
    return f"{site_id}-{identifier.lower().replace('_', '-')}"


def _construct_id(identifier: str) -> str:
    return "".join(part.capitalize() for part in identifier.split("_"))


class SiteConfigRules(Construct):
    """The managed Config rules of ``regimes`` (``CONFIG_RULES``), each scoped to the resources tagged
    ``dmc:site`` = ``site_id`` and named ``<site_id>-<managed rule>`` (e.g. plantB-dynamodb-pitr-enabled), so a
    site's rules and their findings are told apart in an account that holds several sites.

    The rules need a Config recorder in the account and region; one site there provides it
    (``ConfigRecorder``, the region baseline). ``BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK`` checks the
    site's backup plan against ``backup_frequency_days`` and ``backup_retention_days`` (its most frequent rule).
    ``rules``: identifier -> the rule; ``clauses``: identifier -> the clauses it watches.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        regimes: Sequence[str],
        backup_frequency_days: int,
        backup_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        strange = [regime for regime in regimes if regime not in CONFIG_RULES]
        if strange:
            problems.append(f"regimes {strange} are not known; fix: use some of {sorted(CONFIG_RULES)}")
        if not Token.is_unresolved(site_id) and not RULE_NAME.match(config_rule_name(site_id, BACKUP_PLAN_CHECK)):
            problems.append(
                f"site_id {site_id!r} does not fit a Config rule name (letters, digits, '-', '_', 128 in all); "
                "fix: use the site's id, e.g. plantA"
            )
        for name, days in (
            ("backup_frequency_days", backup_frequency_days),
            ("backup_retention_days", backup_retention_days),
        ):
            if not Token.is_unresolved(days) and days < 1:
                problems.append(f"{name} {days} is below 1; fix: give the backup plan's most frequent rule")
        if problems:
            raise ValueError(f"SiteConfigRules {construct_id}: " + "; ".join(problems))
        self.clauses = config_rules_for(regimes)
        inputs = {
            BACKUP_PLAN_CHECK: {
                "requiredFrequencyUnit": "days",
                "requiredFrequencyValue": backup_frequency_days,
                "requiredRetentionDays": backup_retention_days,
            }
        }
        scope_of_site = config.RuleScope.from_tag(tag_keys.SITE, site_id)
        self.rules = {
            identifier: config.ManagedRule(
                self,
                _construct_id(identifier),
                identifier=identifier,
                config_rule_name=config_rule_name(site_id, identifier),
                description=f"Watches {site_id}'s resources for {', '.join(clauses)}.",
                rule_scope=scope_of_site,
                input_parameters=inputs.get(identifier),
            )
            for identifier, clauses in self.clauses.items()
        }
