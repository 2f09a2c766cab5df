"""Venue adapters: network clients (and, for the sandbox, the server) that connect a node to a venue."""
