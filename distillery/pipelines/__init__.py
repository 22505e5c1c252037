"""Pipelines: ordered stages, each an ordinary synthesis or training job, run one after
another (distillery/schemas/pipelines.py has the spec).

Invariants:
- The pipeline's row lock serialises every change to it and its stages (`runner.advance`,
  `lifecycle.cancel`, `lifecycle.retry`); at most one stage runs at a time.
- A stage's job is made by the ordinary create functions, marked with `pipeline_id`, and
  enqueued only after the transaction commits: domain code returns `Message`s.
- The database is the ledger: `advance` is idempotent and every trigger calls it (the
  POST, the workers when a stage's job ends, the periodic sweep), so any crash resumes
  from the stage rows.
- A stage that cannot start (its input is empty, a teacher was deleted) fails the
  pipeline with the reason; nothing waits forever.
"""
