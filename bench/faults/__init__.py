"""The fault-injection suite (``finsent faults``, ``make faults``): one module per scenario on a shared harness.

Real Tansu, real PostgreSQL (a temporary database behind a proxy the suite can cut), ``finsent
worker`` and ``finsent alerts run`` as real subprocesses, real loopback SMTP and HTTP receivers.
"""
