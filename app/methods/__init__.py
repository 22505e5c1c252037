"""Elicitation methods. Each turns one work item into records through the teacher gateway.

Invariants: a method never touches the database and never swallows a teacher failure: a
reply that cannot be used becomes a rejected or failed record with its reason.
"""
