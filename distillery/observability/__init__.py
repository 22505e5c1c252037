"""Operational metrics for Prometheus.

Invariants: a worker process tallies teacher calls in memory and adds the tally to
`teacher_metrics` with one upsert-increment per flush, so counters from every process on
every host add up in the database; `/metrics` reads them (and live job and queue state) at
scrape time. Counters only grow. Labels carry ids, names and states: never secrets, API
keys or base URLs.
"""
