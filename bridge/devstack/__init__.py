"""A local stack on loopback for dry runs, demos and the test suite: a real Synapse homeserver,
the sandbox gateway and the bridge on SQLite. Needs the ``test`` extra (matrix-synapse)."""
