"""Teachers: registry (CRUD), gateway, clients, retries, batch, limiter, circuit, cache,
pricing. The only package that speaks HTTP to teachers (http, over aiohttp).

Invariants: a teacher call goes through `gateway.TeacherGateway`; each reply is cached by
request hash and persisted before the next await, so a retry or resume never pays twice;
every paid call is reserved against the job's budget before it is sent.
"""
