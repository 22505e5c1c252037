"""Secrets: tenant API keys are stored as sha256 hashes; teacher keys are Fernet-encrypted.

Neither is ever returned, logged or written to an event.
"""
