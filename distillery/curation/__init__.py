"""Curation passes over records: a job's accepted ones as it closes, or a dataset's when it
is merged or curated again. A pass never deletes: it rejects with its name and a reason
(and, for duplicates, the id of the record kept).

Beneath the passes: one MinHash-LSH engine (`minhash`) for near-dedup and the ROUGE-L
index, and one definition of a record's prompt and response (`record_text`), which the
datasets' exports and stats and the methods read too."""
