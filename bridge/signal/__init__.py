"""The Signal protocol layer: identities, prekeys, X3DH sessions, the double ratchet, sender keys.

Protocol code here is sans-I/O; persistence goes through the per-user vault in :mod:`bridge.trust`.
"""
