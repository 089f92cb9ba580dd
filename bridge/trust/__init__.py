"""The per-user trust boundary: every key and session record sealed under a per-user data key."""
