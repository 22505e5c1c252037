"""Datasets: immutable versions of accepted records (`build` makes them, `queries` reads
them, `rows` streams their records), their stats, streamed exports, and review: `review`
reads rows for the row viewer, `flags` marks bad rows and derives a version without them.

Invariant: a version's membership (dataset_records) is written once, when it is created.
"""
