"""The sandbox gateway: a local stand-in for the gatekeeper with simulated gatekeeper users."""
