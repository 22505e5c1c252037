"""Teachers: registry (CRUD), gateway (the only importer of openai), cache, pricing.

Invariants: a teacher call goes through `gateway.TeacherGateway`; each reply is cached by
request hash and persisted before the next await, so a retry or resume never pays twice;
every paid call is reserved against the job's budget before it is sent.
"""
