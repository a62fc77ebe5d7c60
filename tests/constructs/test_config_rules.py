"""SiteConfigRules on a bare stack, and the regime -> managed rule -> clause list it is built from."""

from __future__ import annotations

import re

import pytest
from aws_cdk import aws_config as config
from aws_cdk.assertions import Match, Template

from construct_helpers import bare_stack, unacknowledged_findings
from factory_constructs.audit.config_rules import (
    ANNEX_11_PACK,
    BACKUP_PLAN_CHECK,
    CONFIG_RULES,
    PART_11_PACK,
    SiteConfigRules,
    config_rule_name,
    config_rules_for,
)
from policies import tag_keys
from policies.clauses import CLAUSES, unknown
from site_model.model import Regime

pytestmark = pytest.mark.synth

AWS_MANAGED_RULES = {
    getattr(config.ManagedRuleIdentifiers, name) for name in dir(config.ManagedRuleIdentifiers) if name.isupper()
}


def build(regimes: list[str], **props: int) -> Template:
    stack = bare_stack()
    SiteConfigRules(
        stack,
        "ConfigRules",
        site_id="plantB",
        regimes=regimes,
        **{"backup_frequency_days": 1, "backup_retention_days": 35, **props},
    )
    return Template.from_stack(stack)


# --- the list -------------------------------------------------------------------------------------------------


def test_every_regime_of_the_site_model_has_its_list() -> None:
    assert sorted(CONFIG_RULES) == sorted(Regime.__args__)  # type: ignore[attr-defined]


def test_every_choice_is_an_aws_managed_rule_from_the_named_packs_with_known_clauses() -> None:
    for regime, choices in CONFIG_RULES.items():
        for choice in choices:
            assert choice.identifier in AWS_MANAGED_RULES, f"{regime}: {choice.identifier} is not an AWS managed rule"
            assert choice.packs and set(choice.packs) <= {PART_11_PACK, ANNEX_11_PACK}, choice
            assert choice.clauses and unknown(choice.clauses) == [], choice


def test_a_regimes_rules_watch_clauses_of_that_regulation() -> None:
    regulation = {"fda-21-cfr-part-11": "21 CFR Part 11", "eu-gmp-annex-11": "EU GMP Annex 11", "gdpr": "GDPR"}
    for regime, name in regulation.items():
        clauses = {clause for choice in CONFIG_RULES[regime] for clause in choice.clauses}
        assert {CLAUSES[clause].regulation for clause in clauses} == {name}


def test_regimes_together_get_each_rule_once_with_the_clauses_merged() -> None:
    rules = config_rules_for(["gdpr", "eu-gmp-annex-11"])
    assert len(rules) == len(
        {choice.identifier for regime in ("gdpr", "eu-gmp-annex-11") for choice in CONFIG_RULES[regime]}
    )
    assert rules["S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED"] == ("GDPR Art. 32", "Annex 11 §7.1")
    assert rules["S3_BUCKET_SSL_REQUESTS_ONLY"] == ("GDPR Art. 32",)
    assert config_rules_for(["none"]) == {}


# --- the construct --------------------------------------------------------------------------------------------


def test_each_rule_of_the_regime_is_an_aws_managed_rule_scoped_to_the_site_by_its_tag() -> None:
    template = build(["fda-21-cfr-part-11"])
    template.resource_count_is("AWS::Config::ConfigRule", len(CONFIG_RULES["fda-21-cfr-part-11"]))
    for choice in CONFIG_RULES["fda-21-cfr-part-11"]:
        template.has_resource_properties(
            "AWS::Config::ConfigRule",
            {
                "ConfigRuleName": config_rule_name("plantB", choice.identifier),
                "Source": {"Owner": "AWS", "SourceIdentifier": choice.identifier},
                "Scope": {"TagKey": tag_keys.SITE, "TagValue": "plantB"},
                "Description": f"Watches plantB's resources for {', '.join(choice.clauses)}.",
            },
        )


def test_rule_names_are_the_site_and_awss_own_rule_name() -> None:
    assert config_rule_name("plantB", "DYNAMODB_PITR_ENABLED") == "plantB-dynamodb-pitr-enabled"


def test_the_backup_plan_check_gets_the_plans_most_frequent_rule() -> None:
    build(["eu-gmp-annex-11"], backup_frequency_days=7, backup_retention_days=90).has_resource_properties(
        "AWS::Config::ConfigRule",
        {
            "Source": {"Owner": "AWS", "SourceIdentifier": BACKUP_PLAN_CHECK},
            "InputParameters": {
                "requiredFrequencyUnit": "days",
                "requiredFrequencyValue": 7,
                "requiredRetentionDays": 90,
            },
        },
    )


def test_other_rules_take_no_parameters() -> None:
    build(["eu-gmp-annex-11"]).has_resource_properties(
        "AWS::Config::ConfigRule",
        {"Source": {"Owner": "AWS", "SourceIdentifier": "DYNAMODB_PITR_ENABLED"}, "InputParameters": Match.absent()},
    )


def test_a_site_of_no_regime_gets_no_rule() -> None:
    build(["none"]).resource_count_is("AWS::Config::ConfigRule", 0)


# --- validation -----------------------------------------------------------------------------------------------


def test_invalid_props_are_reported_together() -> None:
    stack = bare_stack()
    with pytest.raises(ValueError) as caught:
        SiteConfigRules(
            stack,
            "ConfigRules",
            site_id="plant B",
            regimes=["hipaa"],
            backup_frequency_days=0,
            backup_retention_days=35,
        )
    assert str(caught.value) == (
        "SiteConfigRules ConfigRules: regimes ['hipaa'] are not known; fix: use some of "
        "['eu-gmp-annex-11', 'fda-21-cfr-part-11', 'gdpr', 'none']; site_id 'plant B' does not fit a Config rule "
        "name (letters, digits, '-', '_', 128 in all); fix: use the site's id, e.g. plantA; backup_frequency_days 0 "
        "is below 1; fix: give the backup plan's most frequent rule"
    )


def test_a_site_id_too_long_for_a_rule_name_is_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("site_id 'p" + "x" * 99 + "' does not fit a Config rule name")):
        SiteConfigRules(
            bare_stack(),
            "ConfigRules",
            site_id="p" + "x" * 99,
            regimes=["gdpr"],
            backup_frequency_days=1,
            backup_retention_days=35,
        )


# --- packs ----------------------------------------------------------------------------------------------------


def test_the_rules_alone_have_no_unacknowledged_findings() -> None:
    stack = bare_stack(audit_trail=True)
    SiteConfigRules(
        stack,
        "ConfigRules",
        site_id="plantA",
        regimes=["gdpr", "eu-gmp-annex-11", "fda-21-cfr-part-11"],
        backup_frequency_days=1,
        backup_retention_days=35,
    )
    assert unacknowledged_findings(stack) == []
