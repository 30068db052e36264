"""What operators look at: `medallion status` (health and lag) and `medallion report` (HTML charts).

Reads the layers' tables (through the registry) and never writes them; sits beside orchestration
in the composition root.
"""
