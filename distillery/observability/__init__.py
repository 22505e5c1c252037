"""Operational metrics for Prometheus.

Invariants: a worker process tallies teacher calls in memory and adds the tally to
`teacher_metrics` with one upsert-increment per flush, so counters from every process on
every host add up in the database; `/metrics` reads them (and live job and queue state) at
scrape time. The API's HTTP request metrics are counted by each API process, shared
between the processes of one server through prometheus-client's multiprocess files
(http_metrics.py). Counters only grow. Labels carry ids, names, states and route
templates: never secrets, API keys, base URLs or raw paths.

Logs: every line may carry the request id and job id of the work it is about
(log_context.py), and with DISTILLERY_LOG_FORMAT=json is one JSON object (json_logs.py).
"""
