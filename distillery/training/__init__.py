"""Training jobs, API side: create, validate, cancel, read, and the writes a training
worker makes as a job runs. Nothing here imports torch or the trainer libraries; the
training itself lives in distillery/workers/training/.

Four methods share the training queue and one lifecycle: `sft` and `dpo` train a student;
`generate` samples a trained student on a dataset's prompts and writes a candidates
dataset (generation.py); `evaluate` scores a trained student on a gold set (gold_sets.py).

Invariants:
- A job's dataset is a version of the caller's tenant and of the kind its method reads
  (sft: an SFT dataset; dpo: a preference one; generate: any; evaluate: one whose records
  carry answers); its base model exists on local disk or in the Hugging Face cache when it
  is submitted, or comes with its `student`, a succeeded sft or dpo job of the tenant
  (students.py). Nothing is downloaded at run time.
- queued → running → succeeded | failed | cancelled; a terminal job never changes again.
  Cancelling a running job only asks (`cancel_requested`): the worker stops at the next
  step, saves what it trained, and closes the job as cancelled.
- A generate job writes its dataset once: a rerun after a crash finds `output_dataset_id`
  set and writes nothing more.
- A step's metrics are keyed by (job, step): a run restarted after a crash rewrites them.
- A job whose worker dies mid-run (no heartbeat for TRAINING_HEARTBEAT_TIMEOUT_S) is
  queued again by the reaper in the synthesis worker's beat, or delivered again by the
  broker, and starts at most TRAINING_MAX_ATTEMPTS times in all; then it fails. It is
  never left `running` without a live worker, except while its judge step runs on the
  synthesis side (`judging_since` set; distillery/training/judging.py), which closes it. A
  delivery while its worker is alive (heartbeat fresh) or while it is judged is dropped.
"""
