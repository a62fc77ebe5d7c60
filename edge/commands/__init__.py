"""Commands from the cloud to the plant: allow-listed, verified, audited setpoint writes."""
