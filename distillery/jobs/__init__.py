"""Jobs, the orchestrator: lifecycle (create, cancel, finalize), planning into work items,
leases, and running items (execution). What a job produced and spent lives in the ledger
(distillery/ledger), below this package.

Invariants:
- Postgres is the ledger, the broker a doorbell: a work item is claimed under a lease and
  an expired lease makes it claimable again, so a lost message or a killed worker only
  delays work.
- An item's records, its `done` mark and the job's counters are written in one
  transaction, guarded by the item's status: a redelivered item never counts twice.
- A teacher call is reserved against the budget (in SQL) before it is sent.
"""
