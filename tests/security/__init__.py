"""Regression tests for attacks from the penetration test (issue #13): one file per attack."""
