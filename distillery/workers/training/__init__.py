"""The training worker: TRL (SFT or DPO) with PEFT LoRA or full fine-tuning, and the runs
of a trained student (generate: sampling; evaluate: scoring on a gold set), on the GPU
host in production and the CPU in tests. Only `distillery train-worker` imports this
package, so torch and the trainer libraries never load in the API or synthesis workers.

Invariants:
- Offline: models load only from a local directory or the Hugging Face cache
  (HF_HUB_OFFLINE is set before any Hugging Face library is imported).
- The database is written in short transactions between steps, never held open across
  one, so a cancel from the API is seen at the next step.
- Whatever ends a run (success, cancel, an error, a bad model or dataset, out of memory)
  closes the job with a readable message; only a killed process leaves it running, and
  the training reaper (or the broker's redelivery) then restarts it from its last
  checkpoint, which is on this host's disk: a job resumed on another host starts over.
"""

import os

from distillery.settings import get_settings

# Read by huggingface_hub when it is first imported: nothing is downloaded, and hub names
# resolve in the same cache the API checked at submission.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = str(get_settings().resolved_hf_hub_cache)
