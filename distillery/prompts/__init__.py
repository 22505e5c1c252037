"""Prompts: every prompt sent is a named template file, rendered in Jinja2's sandbox with
StrictUndefined; its version is the hash of its text, stored on every record it made."""
