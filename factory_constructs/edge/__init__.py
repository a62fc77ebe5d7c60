"""Greengrass v2: the edge components as versions, deployed to a site's thing group (runtime in edge/)."""
