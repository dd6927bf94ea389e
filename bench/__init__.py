"""Benchmarks of the live call engine (not part of the test run). Entry point: ``python bench/calls.py``."""
