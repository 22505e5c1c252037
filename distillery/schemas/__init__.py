"""The public contract. Inputs forbid unknown fields and NUL characters (Postgres cannot
store them); outputs are built from ORM rows here, so rows never reach the edge."""
