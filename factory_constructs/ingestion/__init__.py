"""Streaming ingestion: the Kinesis stream, the Firehose delivery to the raw zone, and its transform Lambda."""
