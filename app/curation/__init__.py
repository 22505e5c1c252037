"""Curation passes over records: a job's accepted ones as it closes, or a dataset's when it
is merged or curated again. A pass never deletes: it rejects with its name and a reason
(and, for duplicates, the id of the record kept)."""
