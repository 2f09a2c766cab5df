"""Persistence: the snapshot folders runs write for analysis (and, later, the cache database)."""
