"""Curation passes over a job's records. A pass never deletes: it rejects with a reason
(and, for duplicates, the id of the record kept)."""
