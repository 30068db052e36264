"""The foundation every layer builds on: configuration, errors, the Spark session factory, Delta
I/O, storage access, run identity and the table registry.

It imports no layer package (`bronze`, `silver`, `gold`) and nothing of the composition root
(`pipelines.cli`, `pipelines.orchestration`); `tests/unit/test_architecture.py` enforces it.
"""
