"""Third-party chats: moving messages between a portal room and its user's partner client.

The pieces it joins are elsewhere: portals and puppets (`bridge.matrix.portals`), the content
mapping (`bridge.mapping`), the partner client per user (`bridge.partner`). Here live the flows
in both directions and the I/O the mapping asks for (media repositories, message ids).
"""
