"""Gold layer: dbt invocation and the SQL serving side."""
