"""What one `medallion sql` statement would change, decided before Spark runs it.

`medallion sql` is read-only unless the operator passes `--allow-writes`, and it never modifies
Bronze: `delta.appendOnly` stops DELETE/UPDATE there, but not ALTER (which can switch the property
off), RESTORE, VACUUM, TRUNCATE, DROP, INSERT OVERWRITE, OPTIMIZE... The one audited path that
rewrites Bronze is `medallion erase`.

The statement is classified with sqlglot (Spark dialect), pure Python, so a refused statement never
starts a JVM. Everything errs towards refusing (fail closed):

- Reads: queries (SELECT, WITH ... SELECT, set operations, VALUES), SHOW, DESCRIBE (incl. Delta's
  DESCRIBE HISTORY/DETAIL, which sqlglot cannot parse: Spark's grammar has no writing statement
  that starts with SHOW or DESCRIBE), EXPLAIN of a read, and USE / CACHE / UNCACHE / REFRESH TABLE
  (they change only this session's state, which ends with the command).
- Writes: everything else, among them SET/RESET (a session conf can switch Delta's safety checks
  off), every Delta command (OPTIMIZE, VACUUM, RESTORE, REORG, CONVERT, FSCK, GENERATE, CLONE),
  and any statement sqlglot cannot parse or whose kind it does not know (one that starts like a
  query, SELECT/VALUES/TABLE/`(`, names no target: Spark's grammar has no writing query).
- Bronze: a write whose target is a table in schema `bronze` (any case, quoted or not, with a
  catalog or not; an unqualified name when the current schema is `bronze`), the `bronze` schema
  itself, or a path (delta.`<path>`, or any path-like string literal of a write: LOCATION,
  DIRECTORY, INPATH...) equal to, inside or containing Bronze's location. Targets come from the
  syntax tree (tables read by a write, e.g. `INSERT INTO silver.x SELECT ... FROM bronze.events_raw`,
  are not targets); for statements sqlglot keeps as raw text (`exp.Command`) or cannot parse, every
  name and string in the statement counts. A write whose targets cannot be known at all (dynamic
  SQL such as EXECUTE IMMEDIATE, procedures, SQL scripts) and any statement calling Java or a shell
  (reflect, java_method, try_reflect, SELECT TRANSFORM ... USING) is treated as a Bronze write.
- One statement per call.
"""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from pipelines.core.errors import PipelineError

DIALECT = "spark"
# Session conf naming the role the JVM guard (pipelines/serving, loaded by `medallion sql` and
# `medallion serve`) gives this process's own statements: `reader` (read-only) or `pipeline`
# (writes, never to Bronze). Set after the tables are registered; no SQL statement can change it.
GUARD_ROLE_CONF = "spark.medallion.guard.localRole"
BRONZE_SCHEMA = "bronze"

# Leading keywords of statements that only read (Spark's grammar has no writing form of them).
_READ_HEADS = frozenset({"SHOW", "DESCRIBE", "DESC"})
_EXPLAIN_MODES = frozenset({"EXTENDED", "CODEGEN", "COST", "FORMATTED", "LOGICAL"})
# Leading keywords of queries: a statement that starts with one writes nothing in Spark, so when
# sqlglot cannot parse it, it is still refused without --allow-writes but names no Bronze target.
_QUERY_HEADS = frozenset({"SELECT", "VALUES", "TABLE", "("})
# Leading keywords of writes whose targets are the names and paths in their text: statements
# sqlglot keeps as `exp.Command` or cannot parse are scanned token by token. Any other unknown
# write (EXECUTE IMMEDIATE, CALL, BEGIN ... END, DECLARE...) has targets nobody can know.
_SCANNABLE_HEADS = frozenset({
    "ADD", "ALTER", "ANALYZE", "CACHE", "CLEAR", "COMMENT", "CONVERT", "CREATE", "DELETE", "DROP",
    "FROM", "FSCK", "GENERATE", "INSERT", "LIST", "LOAD", "MERGE", "MSCK", "OPTIMIZE", "REFRESH",
    "REORG", "REPAIR", "REPLACE", "RESET", "RESTORE", "SET", "TRUNCATE", "UNCACHE", "UNSET",
    "UPDATE", "USE", "VACUUM", "WITH",
})
# Functions that run arbitrary Java: they could reach any file, Bronze's included.
_JAVA_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})

_READ_ROOTS = (exp.Query, exp.Values, exp.Describe, exp.Use, exp.Cache, exp.Uncache, exp.Refresh)
_WRITE_NODES = (exp.DML, exp.DDL, exp.Alter, exp.Drop, exp.TruncateTable, exp.LoadData, exp.Set,
                exp.Command, exp.Comment, exp.Analyze, exp.MultitableInserts, exp.Transaction)
# Writes whose targets sqlglot's tree holds; parts that only read are skipped (see _write_tables).
_KINDS: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT", exp.MultitableInserts: "INSERT", exp.Update: "UPDATE",
    exp.Delete: "DELETE", exp.Merge: "MERGE", exp.Create: "CREATE", exp.Drop: "DROP",
    exp.Alter: "ALTER", exp.TruncateTable: "TRUNCATE", exp.LoadData: "LOAD DATA",
    exp.Comment: "COMMENT", exp.Analyze: "ANALYZE",
}
_READ_PARTS = (exp.Query, exp.Subquery, exp.Values, exp.From, exp.Join, exp.LikeProperty, exp.Clone)
_SCHEMA_KINDS = frozenset({"SCHEMA", "DATABASE", "NAMESPACE"})
# Where a string literal is a location the statement writes (for messages; the Bronze check looks
# at every path-like literal).
_LOCATION_PARTS = (exp.Directory, exp.LocationProperty, exp.LoadData, exp.AlterSet)

SESSION_SETTINGS = "the session's settings"
NOT_UNDERSTOOD = "not known: medallion could not parse the statement, so it treats it as a write"
UNKNOWN_TARGETS = ("targets that cannot be known before it runs (dynamic SQL, a procedure or script, "
                   "or a statement medallion does not know)")
CALLS_CODE = "any file, through the Java or shell code it calls (reflect, java_method, TRANSFORM)"


@dataclass(frozen=True)
class Statement:
    """The verdict on one statement: its kind, whether it writes, what it writes, and which of
    those are (or may be) Bronze."""

    kind: str
    writes: bool
    targets: tuple[str, ...] = ()
    bronze: tuple[str, ...] = ()


def check_statement(sql: str, *, bronze_location: str, allow_writes: bool = False,
                    current_schema: str = "default") -> Statement:
    """The verdict on `sql`, or the error that refuses it: a Bronze write always, any other
    write unless `allow_writes`."""
    statement = classify(sql, bronze_location=bronze_location, current_schema=current_schema)
    if statement.bronze:
        raise PipelineError("SQL_BRONZE_APPEND_ONLY", {"kind": statement.kind,
                                                       "targets": ", ".join(statement.bronze)})
    if statement.writes and not allow_writes:
        raise PipelineError("SQL_READ_ONLY", {"kind": statement.kind,
                                              "targets": ", ".join(statement.targets)})
    return statement


def classify(sql: str, *, bronze_location: str, current_schema: str = "default") -> Statement:
    """Classify one statement (see the module docstring). Raises `SQL_MULTIPLE_STATEMENTS` for
    more than one, `SQL_FAILED` for none or text that cannot even be tokenized."""
    return _classify(sql, _Bronze(_normalized(bronze_location), current_schema))


def _classify(sql: str, bronze: _Bronze) -> Statement:
    tokens = _single_statement(sql)
    keyword = tokens[0].token_type not in (TokenType.IDENTIFIER, TokenType.STRING)  # not `show`
    head = (tokens[0].text.split() or [""])[0].upper() if keyword else ""  # "MSCK REPAIR" is one token
    if head == "EXPLAIN":
        return _explain(tokens, bronze)
    calls_code = _calls_code(tokens)
    if head in _READ_HEADS:
        return _verdict(Statement(head, writes=False), calls_code)
    try:
        parsed = [p for p in sqlglot.parse(sql, dialect=DIALECT) if p is not None]
    except Exception:  # noqa: BLE001 - whatever sqlglot cannot parse is a write (fail closed)
        parsed = []
    root = parsed[0] if len(parsed) == 1 else None
    if isinstance(root, _READ_ROOTS) and not any(isinstance(n, _WRITE_NODES) for n in root.walk()):
        return _verdict(Statement(_kind(root, head), writes=False), calls_code)
    if root is not None and type(root) in _KINDS:
        return _verdict(_tree_write(root, bronze), calls_code)
    if isinstance(root, exp.Set):
        return _verdict(Statement("SET", writes=True, targets=(SESSION_SETTINGS,)), calls_code)
    return _verdict(_text_write(head, tokens, bronze), calls_code)


# ---- tokens ---------------------------------------------------------------------------------------

def _tokenize(sql: str) -> list[Token]:
    try:
        return Spark().tokenize(sql)
    except TokenError as exc:
        raise PipelineError("SQL_FAILED", {"detail": f"cannot read the statement: {exc}"}) from exc


def _single_statement(sql: str) -> list[Token]:
    """The statement's tokens; refuses none, and more than one (`;` between statements)."""
    statements: list[list[Token]] = [[]]
    for token in _tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [s for s in statements if s]
    if not statements:
        raise PipelineError("SQL_FAILED", {"detail": "the statement is empty (or only comments)"})
    if len(statements) > 1:
        raise PipelineError("SQL_MULTIPLE_STATEMENTS", {"count": len(statements)})
    return statements[0]


def _expanded(tokens: list[Token]) -> list[Token]:
    """sqlglot's tokenizer keeps the text after a command keyword (VACUUM, OPTIMIZE, EXPLAIN,
    EXECUTE...) as one string token; tokenize that text too, so its names and paths are seen."""
    out: list[Token] = []
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.STRING and i and tokens[i - 1].token_type in Spark.Tokenizer.COMMANDS:
            out.extend(_expanded(_tokenize(token.text)))
        else:
            out.append(token)
    return out


def _calls_code(tokens: list[Token]) -> bool:
    """reflect(...)/java_method(...)/try_reflect(...) or a script TRANSFORM(...) USING '<cmd>'."""
    tokens = _expanded(tokens)
    for i, token in enumerate(tokens[:-1]):
        if tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        name = token.text.lower()
        if name in _JAVA_FUNCTIONS:
            return True
        if name == "transform":
            depth, j = 0, i + 1
            while j < len(tokens):
                depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[j].token_type, 0)
                if depth == 0:
                    break
                j += 1
            if j + 1 < len(tokens) and tokens[j + 1].token_type == TokenType.USING:
                return True
    return False


def _names(tokens: list[Token]) -> list[list[Token]]:
    """Dotted names (`a`, `a.b`, `` `a`.b.`c` ``) in token order."""
    names: list[list[Token]] = []
    previous: Token | None = None
    for token in tokens:
        is_part = token.token_type == TokenType.IDENTIFIER or re.fullmatch(r"\w+", token.text) is not None
        if is_part and token.token_type not in (TokenType.STRING, TokenType.NUMBER):
            if previous is not None and previous.token_type == TokenType.DOT and names:
                names[-1].append(token)
            else:
                names.append([token])
        previous = token
    return names


# ---- paths --------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text in (".", "..") or text.startswith("~")


def _normalized(path: str) -> str:
    """One spelling per location: `file:` dropped, local paths absolute and resolved (symlinks,
    `..`), URIs with a normalized path; case-folded, so a case variant never slips through."""
    text = path.strip()
    match = _SCHEME.match(text)
    if match and match.group(1).lower() != "file":
        rest = match.group(2)
        authority, path_part = rest[2:].partition("/")[::2] if rest.startswith("//") else ("", rest)
        return f"{match.group(1)}://{authority}{posixpath.normpath('/' + path_part)}".casefold()
    if match:  # file:/x, file:///x, file://host/x
        text = match.group(2)
        if text.startswith("//"):
            text = "/" + text[2:].partition("/")[2]
    return os.path.realpath(os.path.expanduser(text)).casefold()


def _overlaps(a: str, b: str) -> bool:
    """One location is the other, or inside it (a write to a parent folder reaches Bronze too)."""
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class _Bronze:
    location: str  # normalized
    current_schema: str

    def path(self, text: str) -> bool:
        if not _looks_like_path(text):
            return False
        try:
            return _overlaps(_normalized(text), self.location)
        except (OSError, ValueError):  # e.g. a NUL byte: not a path anyone can check, so refuse
            return True

    def schema(self, name: str | None) -> bool:
        return (name or self.current_schema).casefold() == BRONZE_SCHEMA


# ---- verdicts -----------------------------------------------------------------------------------

def _verdict(statement: Statement, calls_code: bool) -> Statement:
    if not calls_code:
        return statement
    return Statement(statement.kind, writes=True, targets=statement.targets + (CALLS_CODE,),
                     bronze=statement.bronze + (CALLS_CODE,))


def _kind(root: exp.Expression, head: str) -> str:
    if isinstance(root, exp.Query):
        return "SELECT"
    return _KINDS.get(type(root), head)


def _explain(tokens: list[Token], bronze: _Bronze) -> Statement:
    """EXPLAIN reads when what it explains does (Spark plans the statement without running it,
    but a write stays a write here: fail closed)."""
    rest = tokens[1].text if len(tokens) == 2 and tokens[1].token_type == TokenType.STRING else ""
    words = rest.split(None, 1)
    if words and words[0].upper() in _EXPLAIN_MODES:
        rest = words[1] if len(words) > 1 else ""
    if not rest.strip():
        return Statement("EXPLAIN", writes=True, targets=(NOT_UNDERSTOOD,))
    inner = _classify(rest, bronze)
    return Statement(f"EXPLAIN {inner.kind}", inner.writes, inner.targets, inner.bronze)


def _write_tables(node: exp.Expression) -> list[exp.Table]:
    """The tables a write statement writes: every table of its tree outside the parts that only
    read (queries, subqueries, FROM/JOIN, MERGE's USING, FROM ... INSERT's source, CREATE ...
    LIKE/CLONE sources)."""
    tables: list[exp.Table] = []
    for child in node.iter_expressions():
        if isinstance(child, _READ_PARTS) or child is _source(node):
            continue
        if isinstance(child, exp.Table):
            tables.append(child)
        else:
            tables.extend(_write_tables(child))
    return tables


def _source(node: exp.Expression) -> exp.Expression | None:
    """The part of a write that names what it reads: MERGE ... USING <source>, FROM <source>
    INSERT ... (sqlglot does not wrap either in a FROM)."""
    if isinstance(node, exp.Merge):
        return node.args.get("using")
    if isinstance(node, exp.MultitableInserts):
        return node.args.get("source")
    return None


def _tree_write(root: exp.Expression, bronze: _Bronze) -> Statement:
    """A write sqlglot parsed: its target tables, and path-like literals (LOCATION, DIRECTORY,
    INPATH...) wherever they are."""
    schema_kind = str(root.args.get("kind") or "").upper() in _SCHEMA_KINDS
    targets: list[str] = []
    hits: list[str] = []
    for table in _write_tables(root):
        name = ".".join(part.sql(dialect=DIALECT) for part in table.parts)  # without its alias
        targets.append(name)
        if schema_kind:
            is_bronze = any(bronze.schema(n) for n in (table.name, table.db) if n)
        else:
            is_bronze = bronze.schema(table.db) or bronze.path(table.name)
        if is_bronze:
            hits.append(name)
    for literal in root.find_all(exp.Literal):  # values too: a false alarm beats a miss
        if literal.is_string and bronze.path(literal.this):
            hits.append(f"'{literal.this}'")
        if literal.is_string and isinstance(literal.parent, _LOCATION_PARTS):
            targets.append(f"'{literal.this}'")
    return Statement(_KINDS[type(root)], writes=True,
                     targets=tuple(dict.fromkeys(targets)) or ("the objects it names",),
                     bronze=tuple(dict.fromkeys(hits)))


def _text_write(head: str, tokens: list[Token], bronze: _Bronze) -> Statement:
    """A statement sqlglot keeps as raw text (`exp.Command`), cannot parse, or does not know: a
    write whose targets are every name and string in it (see _SCANNABLE_HEADS)."""
    kind = " ".join(tokens[0].text.upper().split())
    if head in _QUERY_HEADS:
        return Statement(kind, writes=True, targets=(NOT_UNDERSTOOD,))
    if head not in _SCANNABLE_HEADS:
        return Statement(kind, writes=True, targets=(UNKNOWN_TARGETS,), bronze=(UNKNOWN_TARGETS,))
    expanded = _expanded(tokens)
    targets: list[str] = []
    hits: list[str] = []
    for parts in _names(expanded[1:]):
        texts = [p.text for p in parts]
        name = ".".join(f"`{t}`" if p.token_type == TokenType.IDENTIFIER else t for p, t in zip(parts, texts))
        if len(parts) > 1 or parts[0].token_type == TokenType.IDENTIFIER:
            targets.append(name)
        if any(t.casefold() == BRONZE_SCHEMA for t in texts) or any(bronze.path(t) for t in texts):
            hits.append(name)
    for token in expanded:
        if token.token_type == TokenType.STRING and _looks_like_path(token.text):
            targets.append(f"'{token.text}'")
            if bronze.path(token.text):
                hits.append(f"'{token.text}'")
    if head in ("SET", "RESET", "UNSET"):
        targets = [SESSION_SETTINGS]
    elif bronze.schema(None) and not hits:  # unqualified names resolve into bronze: cannot tell
        hits.append(f"a table of the current schema {bronze.current_schema}")
    return Statement(kind, writes=True, targets=tuple(dict.fromkeys(targets)) or ("the objects it names",),
                     bronze=tuple(dict.fromkeys(hits)))
