"""The tag keys that carry a site's facts from its resources to the rules that check them.

Stacks and constructs write them, the GxP and Residency rules read them, tests assert them:
every one of them imports the key from here.
"""

SITE = "dmc:site"
ENTERPRISE = "dmc:enterprise"
COMPLIANCE = "dmc:compliance"
DATA_CLASSIFICATION = "dmc:data-classification"
# Space-separated regions where the site's data may reside (Residency-StackRegion reads it).
DATA_REGIONS = "dmc:data-regions"
# "true" on a site whose regimes need an immutable audit trail (GxP-RawObjectLock reads it).
AUDIT_TRAIL = "dmc:audit-trail"
COST_CENTRE = "dmc:cost-centre"
OWNER = "dmc:owner"
# The lake zone of a bucket: raw, conformed or curated.
ZONE = "dmc:zone"
# On a resource that holds GxP records of who did what (commands and their gateway audit, the trail):
# the value AUDIT_RECORD. GxP-AuditTablePitr reads it on DynamoDB tables.
RECORD = "dmc:record"
AUDIT_RECORD = "audit"
