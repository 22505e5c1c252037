"""`expand` by Self-Instruct (Wang et al. 2023): rounds of new tasks from in-context
examples. Each round's `propose` items ask for tasks (propose.py); the round's end filters
them against the whole pool and makes the survivors `label` items (rounds.py)."""

from distillery.methods.base import Method
from distillery.methods.self_instruct.propose import expand, plan, self_instruct_calls
from distillery.methods.self_instruct.rounds import end_self_instruct_round
from distillery.schemas.job_specs import SelfInstructJob

METHOD = Method(spec=SelfInstructJob, run=expand, plan=plan, calls=self_instruct_calls, advance=end_self_instruct_round)
