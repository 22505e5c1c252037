"""Celery workers: thin tasks that take ids, open a session and make one domain call."""
