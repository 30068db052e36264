"""`medallion serve`: the Spark Thrift Server on the pipeline's Spark configuration, with
password authentication, an allow-list checked on every analyzed plan and an access log.

The JVM half (authentication, the guard, the log) is Java in `java/`, compiled at install
(`jar.py`); the Python half writes its policy from the table registry (`policy.py`), reads the
accounts from the environment (`accounts.py`), runs the server (`server.py`) and loads the access
log into `audit.sql_access_log` (`access_log.py`).
"""
