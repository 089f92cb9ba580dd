"""The client side of the gateway protocol (docs/gateway-protocol.md, interop-sandbox v1).

Layers, bottom up (everything below ``connection`` is pure, socket-free code):

- ``codec``: :class:`~.codec.Node` trees and the one wire-encoding interface
  (:class:`~.codec.StanzaCodec`, default :class:`~.codec.BinaryStanzaCodec`). Replace the codec
  to speak another encoding; nothing above it sees bytes.
- ``framing``: 3-byte length-prefixed frames, :class:`~.framing.FrameSplitter`.
- ``noise_channel``: Noise XX state machines, :class:`~.noise_channel.ClientChannel` and
  :class:`~.noise_channel.ServerChannel` (the sandbox gateway uses the latter with
  :func:`~.hello_auth.authenticate_hello`).
- ``stanzas`` / ``requests``: builders and parsers for every stanza of the spec.
- ``tokens``: signing keys, JWKS documents, issuing/verifying JWTs; ``identity``: cached
  identity tokens per user; ``jwks_client``: a remote JWKS cache that verifies tokens.
- ``enlistment``: ``POST /3p/interop_reg``.
- ``connection``: :class:`~.connection.GatewayConnection`, one per partner user (wake/idle,
  keep-alive, backoff, ack-after-store, outbox resend); ``client_api``: typed requests over it.
- ``inbound``: what the gateway delivers, parsed into typed values (the only place that reads
  a delivered stanza).
- ``partner_routes``: ``register_routes(app, PartnerEndpoints(...), prefix)`` for the partner
  server's JWKS, push and hosted-media endpoints.

Contract with the rest of the bridge: ``Handlers.on_message`` must store durably (and detect a
redelivered (sender, id) by itself) before returning; raising means "not stored". Outgoing
``message``/``receipt`` stanzas are stored in the caller's ``Outbox`` before
``GatewayConnection.send``; ``Handlers.on_server_ack`` reports the gateway's ack or final error.
"""
