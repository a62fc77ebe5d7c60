"""One top-level stack per (site, region); each capability is a nested stack."""

from __future__ import annotations

from aws_cdk import Environment, Stack, Tags
from constructs import Construct

from policies import tag_keys
from site_model import Site
from stacks.audit_stack import AuditStack
from stacks.data_stack import DataStack
from stacks.edge_stack import EdgeStack
from stacks.foundation_stack import FoundationStack
from stacks.integration_stack import IntegrationStack
from stacks.ml_stack import MlStack


class SiteStack(Stack):
    """A site's isolated compartment in one region: the unit `cdk deploy -c site=...` deploys."""

    def __init__(self, scope: Construct, *, site: Site, region: str, account: str | None) -> None:
        super().__init__(
            scope,
            site.id,
            env=Environment(account=account, region=region),
            description=f"Digital Manufacturing Cloud compartment of {site.display_name} ({site.id}) in {region}",
            termination_protection=site.lake.retain_data,
        )
        self.site = site
        for key, value in site_tags(site).items():
            Tags.of(self).add(key, value)
        self.foundation = FoundationStack(self, "Foundation", site=site, region=region)
        self.data = DataStack(self, "Data", site=site, foundation=self.foundation)
        self.edge = EdgeStack(self, "Edge", site=site, foundation=self.foundation, data=self.data)
        self.integration = (
            IntegrationStack(self, "Integration", site=site, foundation=self.foundation, data=self.data)
            if site.features.integration_api
            else None
        )
        self.ml = (
            MlStack(self, "Ml", site=site, foundation=self.foundation, data=self.data)
            if site.features.ml_workspace
            else None
        )
        self.audit = AuditStack(
            self,
            "Audit",
            site=site,
            region=region,
            foundation=self.foundation,
            data=self.data,
            integration=self.integration,
        )


def site_tags(site: Site) -> dict[str, str]:
    """Tags every resource of a site carries (cost allocation, ownership, evidence)."""
    return {
        tag_keys.SITE: site.id,
        tag_keys.ENTERPRISE: site.enterprise,
        tag_keys.COMPLIANCE: " ".join(site.compliance),
        tag_keys.DATA_CLASSIFICATION: site.data_classification,
        tag_keys.DATA_REGIONS: " ".join(site.data_regions),
        tag_keys.AUDIT_TRAIL: "true" if site.audit_trail else "false",
        tag_keys.COST_CENTRE: site.tags.cost_centre,
        tag_keys.OWNER: site.tags.owner,
    }
