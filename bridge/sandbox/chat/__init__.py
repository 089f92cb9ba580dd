"""The chat server: Noise channel per connection, stanza routing, key server, mailbox delivery."""
