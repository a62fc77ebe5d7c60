"""AWS regions a site may use, with their availability zones.

Explicit zones let a VPC synthesize offline, with no account lookup. The
letters are the zones open to every account in each region.
"""

AVAILABILITY_ZONES: dict[str, tuple[str, ...]] = {
    "us-east-1": ("us-east-1a", "us-east-1b", "us-east-1c"),
    "us-east-2": ("us-east-2a", "us-east-2b", "us-east-2c"),
    "us-west-2": ("us-west-2a", "us-west-2b", "us-west-2c"),
    "ca-central-1": ("ca-central-1a", "ca-central-1b", "ca-central-1d"),
    "eu-central-1": ("eu-central-1a", "eu-central-1b", "eu-central-1c"),
    "eu-west-1": ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
    "eu-west-3": ("eu-west-3a", "eu-west-3b", "eu-west-3c"),
    "eu-north-1": ("eu-north-1a", "eu-north-1b", "eu-north-1c"),
    "ap-southeast-1": ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"),
    "ap-northeast-1": ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"),
    "ap-south-1": ("ap-south-1a", "ap-south-1b", "ap-south-1c"),
    "sa-east-1": ("sa-east-1a", "sa-east-1b", "sa-east-1c"),
}

# Regions inside the EU / EEA: where GDPR sites may keep personal data without
# a transfer assessment.
EU_REGIONS = frozenset(region for region in AVAILABILITY_ZONES if region.startswith("eu-"))
