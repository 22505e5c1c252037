"""Elicitation methods. Each turns one work item into records through the teacher gateway.

Invariants: a method never touches the database and never swallows a teacher failure: a
reply that cannot be used becomes a rejected or failed record with its reason. Every
teacher call goes through `asking.ask` (one repair, no blind re-asks), every prompt through
a template, and every record names the templates it used. A method that works in rounds
(Self-Instruct) hands its step's output to the round's end in app/methods/rounds.py, which
runs once, under the job's lock, when every item of the round is done.
"""
