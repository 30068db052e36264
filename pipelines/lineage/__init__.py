"""`medallion trace`: from a Gold row back to the Silver events, Bronze raw lines, gate runs and
dbt build behind it, as of the build; and from a raw line forward to what it became.

Reads the warehouse with delta-rs (no JVM: a trace answers in seconds) through the table
registry; never imports the layers' code, and never re-runs a model's SQL.
"""
