"""Greengrass v2 packaging of the edge: recipes, artifact build, component configuration, entry points."""
