"""`medallion` command line: thin wiring from arguments to the layer packages.

Each sub-command is one `_cmd_<name>` function registered in `_build_parser`; errors a user can
hit are `PipelineError`s, printed as one line with their code and exit status 2. The commands
import what they run when they run it, so `--help`, `generate` and configuration errors answer
without loading Spark, GX or dbt.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from pipelines.core.config import Config, load_config
from pipelines.core.errors import PipelineError
from pipelines.core.logs import log_file, logging_to_file, redact, secret_values
from pipelines.core.registry import all_tables

log = logging.getLogger("medallion")

Command = Callable[[argparse.Namespace, Config], int]


def _add_mode(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", dest="continuous", action="store_false",
                      help="process everything available, then exit (default)")
    mode.add_argument("--continuous", dest="continuous", action="store_true",
                      help="keep running with the configured trigger until Ctrl-C / SIGTERM")
    parser.set_defaults(continuous=False)


def _cmd_generate(args: argparse.Namespace, config: Config) -> int:
    from pipelines.sample_events import write_sample_events

    report = write_sample_events(
        config.landing, events=args.events, seed=args.seed, days=args.days,
        bad_rate=args.bad_rate, files=args.files,
    )
    print(report.headline())
    log.info("generated lines by kind:\n%s", "\n".join(report.breakdown()))  # -v, and the log file
    return 0


def _cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from pipelines.orchestration import run_stages

    return run_stages(config, ["ingest"], continuous=args.continuous)


def _cmd_refine(args: argparse.Namespace, config: Config) -> int:
    from pipelines.orchestration import run_stages

    return run_stages(config, ["refine"], continuous=args.continuous)


def _cmd_run(args: argparse.Namespace, config: Config) -> int:
    from pipelines.orchestration import ALL_STAGES, run_stages

    return run_stages(config, list(ALL_STAGES), continuous=args.continuous)


def _cmd_sql(args: argparse.Namespace, config: Config) -> int:
    import tempfile
    from pathlib import Path

    from gold.sql_query import guard_statement, print_query
    from pipelines.serving.policy import guarded

    # refused without starting Spark when the text alone says so; then the JVM guard judges the
    # analyzed plan (what the statement really does) in the same role
    guard_statement(config, args.query, allow_writes=args.allow_writes)
    with tempfile.TemporaryDirectory(prefix="medallion-sql-") as policy_dir:
        return print_query(guarded(config, Path(policy_dir)), args.query, fmt=args.format,
                           limit=args.limit, allow_writes=args.allow_writes)


def _cmd_build(args: argparse.Namespace, config: Config) -> int:
    from gold.dbt_build import cmd_build

    return cmd_build(config, args.dbt_args)


def _cmd_docs(args: argparse.Namespace, config: Config) -> int:
    from gold.dbt_build import cmd_docs

    return cmd_docs(config, args.dbt_args)


def _cmd_show(args: argparse.Namespace, config: Config) -> int:
    from gold.summary import print_summary

    return print_summary(config, layers=args.layer)


def _cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    from pipelines.core.delta_io import SCHEMA_VERSION
    from pipelines.core.migrations import open_warehouse, warehouse_version
    from pipelines.core.spark_session import build_session

    spark = build_session(config)
    before = warehouse_version(spark, config)
    steps = open_warehouse(spark, config, dry_run=args.dry_run)
    verb = "would apply" if args.dry_run else "applied"
    state = "new" if before is None else f"version {before}"
    print(f"warehouse {config.warehouse}: {state}; this medallion writes version {SCHEMA_VERSION}")
    for step in steps:
        print(f"  {verb} {step}")
    if not steps:
        print("  nothing to migrate")
    return 0


def _cmd_maintain(args: argparse.Namespace, config: Config) -> int:
    from pipelines.maintenance import maintain, print_report

    print_report(maintain(config))
    return 0


def _cmd_erase(args: argparse.Namespace, config: Config) -> int:
    from pipelines.erasure.erase import erase, print_report
    from pipelines.erasure.subject import Subject, SubjectKind

    value = args.email if args.email is not None else args.user_id
    if value == "-":  # from stdin: the identifier stays out of the process list and shell history
        value = sys.stdin.readline().strip()
    subject = Subject(SubjectKind.EMAIL if args.email is not None else SubjectKind.USER_ID, value)
    if not subject.normalized:
        raise PipelineError("INVALID_ARGUMENT", {"name": "--email/--user-id", "value": "",
                                                 "detail": "an identifier of the person is required"})
    print_report(erase(config, subject, args.request_id, dry_run=args.dry_run, wait_seconds=args.wait_seconds))
    return 0


def _cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from pipelines.serving.server import serve

    return serve(config, host=args.host, port=args.port)


def _cmd_tables(args: argparse.Namespace, config: Config) -> int:
    from gold.sql_query import write_table

    rows = [(t.qualified_name, t.kind, t.writer.value, t.location(config) if t.kind == "table" else "-",
             ", ".join(t.lineage_columns), ", ".join(t.personal_columns()))
            for t in all_tables()]
    write_table(["table", "kind", "written by", "location", "lineage columns", "personal data"],
                rows, sys.stdout)
    return 0


def _cmd_report(args: argparse.Namespace, config: Config) -> int:
    from pipelines.monitoring.report_data import write_report

    print(write_report(config, args.out))
    return 0


def _cmd_status(args: argparse.Namespace, config: Config) -> int:
    from pipelines.monitoring.status import print_status

    return print_status(config, fmt=args.format)


def _cmd_trace(args: argparse.Namespace, config: Config) -> int:
    from pipelines.lineage.trace import print_trace

    return print_trace(config, args.table, args.keys, event_id=args.event_id, invocation_id=args.as_of_build,
                       limit=None if args.all else args.limit, fmt=args.format)


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="medallion",
        description="Raw marketing events -> Bronze/Silver/Gold Delta tables -> business metrics.",
    )
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $MEDALLION_CONFIG, ./medallion.yaml, built-ins)")
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-v", "--verbose", action="count", default=0,
                      help="show the product's INFO logs on the console and log DEBUG to the log file "
                           "(-vv: DEBUG logs and dbt's own output on the console too)")
    talk.add_argument("-q", "--quiet", action="store_true",
                      help="print only errors (and the data a command is asked for)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Command] = {}

    p = sub.add_parser("generate", help="write realistic sample events into the landing folder")
    p.add_argument("--events", type=int, required=True, help="number of events (lines)")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same files)")
    p.add_argument("--days", type=int, default=30, help="days of traffic")
    p.add_argument("--bad-rate", type=float, default=0.0, help="fraction of bad input, 0..1")
    p.add_argument("--files", type=int, default=1, help="number of files to spread events over")
    commands["generate"] = _cmd_generate

    p = sub.add_parser("ingest", help="landing files -> bronze.events_raw (streaming)")
    _add_mode(p)
    commands["ingest"] = _cmd_ingest

    p = sub.add_parser("refine", help="bronze.events_raw -> silver.events + quarantine + audit (streaming)")
    _add_mode(p)
    commands["refine"] = _cmd_refine

    p = sub.add_parser("run", help="run every pipeline stage")
    _add_mode(p)
    commands["run"] = _cmd_run

    p = sub.add_parser("sql", help="run Spark SQL against the layer tables (read-only unless --allow-writes)")
    p.add_argument("query", help='e.g. "SELECT count(*) FROM bronze.events_raw"')
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--limit", type=int, default=1000, help="max rows printed (table format)")
    p.add_argument("--allow-writes", action="store_true",
                   help="also run statements that change tables or settings (never Bronze's)")
    commands["sql"] = _cmd_sql

    # prefix_chars="+": every argument after the sub-command, dashes included, goes to dbt.
    p = sub.add_parser("build", help="silver -> gold: dbt build (models, tests, unit tests) in-process",
                       description="Runs `dbt build` on dbt_project/ in this process; any further "
                                   "arguments go to dbt (e.g. --full-refresh, --select fct_customer_ltv).",
                       prefix_chars="+")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="extra dbt arguments")
    commands["build"] = _cmd_build

    p = sub.add_parser("docs", help="generate the dbt docs site (lineage graph) and print where it is",
                       prefix_chars="+")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="extra dbt arguments")
    commands["docs"] = _cmd_docs

    p = sub.add_parser("show", help="print what each layer holds, ending with the Gold metrics")
    p.add_argument("--layer", action="append", choices=("bronze", "silver", "gold"),
                   help="only this layer's sections (repeatable; default: every layer)")
    commands["show"] = _cmd_show

    p = sub.add_parser("migrate", help="upgrade a warehouse built by an earlier medallion in place")
    p.add_argument("--dry-run", action="store_true", help="list the steps, change nothing")
    commands["migrate"] = _cmd_migrate

    p = sub.add_parser("maintain", help="apply the retention: settings: remove ingested landing files, "
                                        "OPTIMIZE and VACUUM the tables, prune Data Docs and logs "
                                        "(safe while the streams run)")
    commands["maintain"] = _cmd_maintain

    p = sub.add_parser(
        "erase", help="right to erasure: remove one person from every layer (landing, Bronze, Silver, Gold, "
                      "artifacts) and prove no byte is left; audited in audit.erasure_log",
        description="Rows stay (counts and campaign metrics do not change) with the person's identifiers "
                    "replaced by anonymous ids and emails erased; old file versions holding them are deleted. "
                    "Rerun with the same --request-id after any failure: it resumes.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email (any letter case, spaces ignored); `-` reads it "
                                      "from stdin, keeping it out of the process list and shell history")
    who.add_argument("--user-id", help="the person's user id (`-`: from stdin)")
    p.add_argument("--request-id", required=True, help="the request's id (e.g. a ticket number); one per person")
    p.add_argument("--dry-run", action="store_true", help="list what would change per table, change nothing")
    p.add_argument("--wait-seconds", type=float, default=300.0,
                   help="how long to wait for refine to process the person's latest Bronze rows (default 300)")
    commands["erase"] = _cmd_erase

    p = sub.add_parser(
        "serve", help="the SQL endpoint (Spark Thrift Server: JDBC/ODBC, beeline, PyHive, dbt's thrift "
                      "target) until Ctrl-C / SIGTERM; analysts read-only, Bronze and direct personal "
                      "data never served, every statement in audit.sql_access_log",
        description="Accounts: MEDALLION_SERVE_USERS=user:role,... (roles analyst, pipeline) and "
                    "MEDALLION_SERVE_PASSWORD_<USER> per user; without them only a loopback address "
                    "is served and every client is an analyst. README: Serving.")
    p.add_argument("--host", help="address to bind (default serve.host: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default serve.port: 10000)")
    commands["serve"] = _cmd_serve

    p = sub.add_parser("tables", help="list every table medallion owns: where it lives, lineage "
                                      "and personal-data columns (the table registry)")
    commands["tables"] = _cmd_tables

    p = sub.add_parser("report", help="write one self-contained HTML page of charts (batches, latency, "
                                      "quarantine, expectations, Gold KPIs) and print its path")
    p.add_argument("--out", metavar="PATH.html",
                   help="where to write it (default: <paths.root>/report.html); needs no network to view")
    commands["report"] = _cmd_report

    p = sub.add_parser("status", help="health check: per layer the last batch/build, lag on the wall clock, "
                                      "quarantine rate, last gate and dbt results; exits 1 when a "
                                      "configured threshold (status: in the config) is breached")
    p.add_argument("--format", choices=("text", "json"), default="text")
    commands["status"] = _cmd_status

    p = sub.add_parser(
        "trace", help="lineage: a Gold row back to the Silver events, raw lines, gate runs and dbt build "
                      "behind it (as of the build); a raw line forward to what it became",
        description="Backward: `medallion trace gold.fct_campaign_performance_daily campaign_id=C date_day=D` "
                    "(any Gold mart or gold_intermediate.int_purchases__attributed, by its key columns). "
                    "Forward: `medallion trace bronze.events_raw _bronze_id=B`, `medallion trace silver.events "
                    "event_id=E` or `medallion trace --event-id E`. Exits 1 with LINEAGE_MISMATCH when the "
                    "listed events do not re-aggregate to the Gold row.")
    p.add_argument("table", nargs="?", help="schema.table (see `medallion tables`)")
    p.add_argument("keys", nargs="*", metavar="column=value", help="the row's key columns")
    p.add_argument("--event-id", help="forward: every raw line that carried this event id")
    p.add_argument("--as-of-build", metavar="INVOCATION_ID",
                   help="trace the row as this dbt build made it (default: the latest build of the table)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    many = p.add_mutually_exclusive_group()
    many.add_argument("--limit", type=int, default=5, help="events listed per group (default 5; counts are always whole)")
    many.add_argument("--all", action="store_true", help="list every event")
    commands["trace"] = _cmd_trace

    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, load the config, route logs (pipelines.core.logs), run the command. A user's mistake
    is one `medallion: error: [CODE] ...` line on stderr, at every verbosity, never a traceback."""
    parser, commands = _build_parser()
    args = parser.parse_args(argv)  # a usage mistake: argparse prints usage and exits 2
    verbosity = -1 if args.quiet else args.verbose
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    config: Config | None = None
    try:
        config = load_config(args.config)
        with logging_to_file(config, verbosity):
            try:
                return commands[args.command](args, config)
            except Exception as exc:
                if not isinstance(exc, PipelineError):  # a bug: its traceback goes to the log file
                    log.error("unexpected %s", type(exc).__name__, exc_info=True)
                raise
    except PipelineError as exc:
        print(f"medallion: error: {redact(str(exc), secret_values(config))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback on the console
        where = f"; the traceback is in {log_file(config)}" if config is not None else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"medallion: error: [INTERNAL_ERROR] {type(exc).__name__}: "
              f"{redact(first, secret_values(config))}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
