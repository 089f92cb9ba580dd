"""Partner clients: one per Matrix user who opted in to third-party chats.

A partner client is the runtime side of that user's trust boundary: the user's partner account
(enlistment, user-visible id), their Signal party and durable message tables, and their own gateway
connection. Nothing here ever handles two users' keys or plaintext together.
"""
