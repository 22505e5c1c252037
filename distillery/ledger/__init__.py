"""The ledger: what a job has produced, spent and said (records, counters and usage,
budget reservations, events, the closed flag). Below the orchestrator (`distillery.jobs`), so
that methods, teachers and datasets can write to it without importing the job package."""
