"""Formatting: Matrix HTML to and from the gateway content format's markup."""
