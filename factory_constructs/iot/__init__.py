"""IoT Core: thing group, policies, role alias, topic rules."""
