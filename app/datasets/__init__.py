"""Datasets: immutable versions of accepted records, their stats, and streamed exports.

Invariant: a version's membership (dataset_records) is written once, when it is created.
"""
