"""Matcher's I/O: the faust stream over events.normalized, the changelog reader, the request sink."""
