"""The ML plane's constructs: the site's SageMaker workspace, and approved models released to its gateways."""
