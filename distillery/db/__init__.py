"""Persistence: ORM rows, engine and sessions.

Invariants: the schema changes only through Alembic migrations; ORM rows never leave the
domain (the API returns schemas); domain code flushes, the edge (route or task) commits.
"""
