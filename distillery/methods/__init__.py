"""Elicitation methods. Each turns one work item into records through the teacher gateway.

Each method is one plug-in (a `Method` in its module, listed in registry.py): the model of
its spec (distillery/schemas/job_specs), its planning, its item step, its round end if it works in
rounds, its dataset kind and whether the quality judge scores its records. The orchestrator
(distillery/jobs) asks the plug-in and knows no method by name.

Invariants: a method never touches the database and never swallows a teacher failure: a
reply that cannot be used becomes a rejected or failed record with its reason. Every
teacher call goes through `asking.ask` (one repair, no blind re-asks), every prompt through
a template, and every record names the templates it used. A method that works in rounds
(Self-Instruct) hands its step's output to the round's end (distillery/methods/self_instruct/
rounds.py), which runs once, under the job's lock, when every item of the round is done.
"""
