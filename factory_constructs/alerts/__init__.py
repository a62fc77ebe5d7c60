"""Stream alerts: the tumbling-window Lambda on the site stream, its topic and its event bus."""
