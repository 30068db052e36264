"""Composition root of medallion: CLI, configuration, Spark session factory, orchestration.

Holds no business rules; the layer packages (bronze, silver, gold) own their tables.
"""
