"""Rate limiting's one algorithm, GCRA, written once in Python and once in Lua.

The teachers' pacing schedule (`distillery.teachers.limiter`) and each tenant's API request rate
(`distillery.api.request_rate`) both keep a GCRA "theoretical arrival time" per key: in Redis
through the Lua text here, without Redis through the Python functions. The two are the
same arithmetic in the same order, so a sequence of calls at the same instants gets the
same answers from either (tests/integration/ratelimit/test_gcra_parity.py checks it against
a real Redis). This package imports nothing from the service.
"""
