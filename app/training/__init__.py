"""Training jobs, API side: create, validate, cancel, read, and the writes a training
worker makes as a job runs. Nothing here imports torch or the trainer libraries; the
training itself lives in workers/training/.

Invariants:
- A job's dataset is a version of the caller's tenant and of the kind its method reads
  (sft: an SFT dataset; dpo: a preference one); its base model exists on local disk or in
  the Hugging Face cache when it is submitted. Nothing is downloaded at run time.
- queued → running → succeeded | failed | cancelled; a terminal job never changes again.
  Cancelling a running job only asks (`cancel_requested`): the worker stops at the next
  step, saves what it trained, and closes the job as cancelled.
- A step's metrics are keyed by (job, step): a run restarted after a crash rewrites them.
- A job whose worker dies mid-run (no heartbeat for TRAINING_HEARTBEAT_TIMEOUT_S) is
  queued again by the reaper in the synthesis worker's beat, or delivered again by the
  broker, and starts at most TRAINING_MAX_ATTEMPTS times in all; then it fails. It is
  never left `running` without a live worker, except while its judge step runs on the
  synthesis side (`judging_since` set; app/training/judging.py), which closes it. A
  delivery while its worker is alive (heartbeat fresh) or while it is judged is dropped.
"""
