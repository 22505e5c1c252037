"""Datasets: immutable versions of accepted records (`build` makes them, `queries` reads
them, `rows` streams their records), their stats, and streamed exports.

Invariant: a version's membership (dataset_records) is written once, when it is created.
"""
