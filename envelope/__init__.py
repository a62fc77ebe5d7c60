"""The tag envelope: the one contract between edge gateways and every cloud consumer."""
