"""Benchmarks (`make bench`). Each prints a table and writes bench/results/<name>.json."""
