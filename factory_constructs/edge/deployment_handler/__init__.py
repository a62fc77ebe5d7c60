"""The edge stack's Greengrass deployment as a custom resource (see ``handler``)."""
