"""The model release Lambda: an approved model package version becomes a Greengrass component on the gateways."""
