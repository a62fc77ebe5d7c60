"""A site's audit controls in its account: the CloudTrail trail, AWS Config (rules, recorder), AWS Backup."""
