"""The construct library (not `constructs/`, which would shadow the CDK `constructs` package)."""
