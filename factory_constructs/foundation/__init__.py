"""Site foundation: keys, network, access logs."""
