"""Benchmarks: each prints figures (and ratios against an in-run baseline); none passes or fails."""
