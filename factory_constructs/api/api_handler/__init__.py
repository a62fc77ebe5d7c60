"""Site API Lambda package: every handler of the REST API, the latest-value consumer and the alert recorder."""
