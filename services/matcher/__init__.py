"""Matcher: joins each normalized event with its tenant's active workflows into execution requests."""
