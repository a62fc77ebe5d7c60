"""Firehose transform Lambda (runtime code: standard library, boto3 and the envelope only)."""
