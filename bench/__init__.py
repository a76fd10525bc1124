"""Benchmarks: each runs a baseline and roachcert side by side on the same servers and prints the ratio."""
