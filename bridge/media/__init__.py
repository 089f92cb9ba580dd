"""Media: the gateway's media encryption, upload and download, and format conversion."""
