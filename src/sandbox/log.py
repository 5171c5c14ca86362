"""The execution log: what each request did, as rows for D1 (in the Worker) or SQLite (CLI, tests).

The log speaks to a D1-shaped interface, `Database`: a batch of prepared statements written at once,
and a query. The Worker adapts D1 to it (src/entry.py); `SqliteDatabase` adapts sqlite3, so the same
SQL runs against a real SQLite database in the tests.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .llm import CallRecord

Statement = tuple[str, tuple[Any, ...]]

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
MAX_RECENT = 100
# Errors, reasons and output are kept whole up to this many characters; a run may print far more.
MAX_TEXT = 4096
# The script text an operator may choose to keep (SANDBOX_LOG_TEXT): "errors" (error messages,
# which quote the script's names and values and the data it read) and "output" (what it printed and
# the reasons its verdicts gave). By default neither: a row holds kinds, hashes, sizes, times and
# counts, so the log holds no tenant's data (issue 18: a secret in one tenant's KeyError was read
# through the log by another). "llm" keeps the prompts and completions of ctx.call_llm calls, which
# hold the traces' data and the model's words about it.
TEXT_KINDS = frozenset({"errors", "output", "llm"})


class Database(Protocol):
    """D1's shape, reduced to what the log needs."""

    async def batch(self, statements: Sequence[Statement]) -> None: ...

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class LogEntry:
    """One request, ready to be written after the response has gone. `result` is the answer in
    wire format: the same whether the engine ran here or in a runner isolate."""

    id: str
    kind: str
    caller: str
    code: str
    result: Mapping[str, Any]
    mode: str = "in-process"
    created_at: str = ""
    tenant: str | None = None  # the request's isolationKey
    runner: str | None = None  # the id of the named runner isolate that ran it
    keep: frozenset[str] = field(default_factory=frozenset)  # which TEXT_KINDS the row holds
    # ctx.call_llm: where the model came from, the request's totals (llm.Usage.to_wire()) and its
    # calls, as whoever answered them counted them (the front Worker's gate; the CLI's engine).
    llm_source: str | None = None
    llm_usage: Mapping[str, Any] | None = None
    llm_calls: Sequence[CallRecord] = ()


def text_kinds(setting: object) -> tuple[frozenset[str], list[str]]:
    """SANDBOX_LOG_TEXT ("errors", "output" or "errors,output"; unset keeps neither) as the kinds of
    script text to keep, and the words of it that name no kind, for the caller to report."""
    if setting is None:
        return frozenset(), []
    if not isinstance(setting, str):
        return frozenset(), [repr(setting)]
    words = {word.strip() for word in setting.split(",") if word.strip()}
    return frozenset(words & TEXT_KINDS), sorted(words - TEXT_KINDS)


# Text SQLite cannot keep as it is: a lone surrogate (UTF-8 cannot encode it; D1 stored three U+FFFD)
# and NUL (stored, but SQLite's text functions stop at it). Each is written as the escape Python's
# repr gives it, so the row shows what the script produced.
_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")


def storable(text: str) -> str:
    return _UNSTORABLE.sub(lambda match: ascii(match.group())[1:-1], text)


def statements(entry: LogEntry) -> list[Statement]:
    """The INSERTs for one request: its row, and for an evaluate request one row per trace."""
    created = entry.created_at or datetime.now(UTC).isoformat(timespec="milliseconds")
    encoded = entry.code.encode("utf-8", errors="surrogatepass")
    wire = entry.result
    errors, output = "errors" in entry.keep, "output" in entry.keep
    counts: tuple[Any, ...] = (None,) * 6
    rows: list[Statement] = []
    if entry.kind == "validate":
        violations = wire.get("violations") or []
        success, elapsed = bool(wire.get("valid")), 0.0
        error = violations[0]["message"] if violations else None
        error_type = None if success else "validation"
    elif entry.kind == "evaluate":
        results = wire.get("results", [])
        error, error_type = wire.get("error"), wire.get("errorType")
        success = error is None and all(r["success"] for r in results)
        elapsed = wire.get("total_time_ms", 0.0)
        s = wire.get("summary", {})
        counts = (
            len(results),
            s.get("passed"),
            s.get("failed"),
            s.get("errors"),
            s.get("timeouts"),
            s.get("not_run"),
        )
        rows = [
            (
                "INSERT INTO trace_results (execution_id, position, trace_id, passed, score, reason, error,"
                " error_type, execution_time_ms, output, llm_calls, llm_tokens_in, llm_tokens_out,"
                " llm_time_ms, llm_models) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _storable(
                    entry.id,
                    position,
                    r["trace_id"],
                    None if r.get("passed") is None else int(r["passed"]),
                    r.get("score"),
                    _kept(r.get("reason"), output),
                    _kept(r.get("error"), errors),
                    r.get("errorType"),
                    r.get("execution_time_ms", 0.0),
                    _kept(r.get("output") or None, output),
                    *_usage_columns(r.get("llm")),
                ),
            )
            for position, r in enumerate(results)
        ]
        llm_text = "llm" in entry.keep
        rows += [
            (
                "INSERT INTO llm_calls (execution_id, position, trace_id, model, tokens_in, tokens_out,"
                " time_ms, error, prompt, completion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _storable(
                    entry.id,
                    position,
                    call.trace_id or None,
                    call.model,
                    call.tokens_in,
                    call.tokens_out,
                    call.time_ms,
                    _kept(call.error, errors),
                    _kept(call.prompt, llm_text),
                    _kept(call.completion, llm_text),
                ),
            )
            for position, call in enumerate(entry.llm_calls)
        ]
    else:
        success, error, error_type = bool(wire.get("success")), wire.get("error"), wire.get("errorType")
        elapsed = wire.get("executionTimeMs", 0.0)
    printed = wire.get("output") or None if entry.kind == "execute" else None
    head = (
        "INSERT INTO executions (id, kind, caller, mode, code_sha256, code_size, success, error_type, error,"
        " execution_time_ms, trace_count, passed_count, failed_count, error_count, timeout_count,"
        " not_run_count, created_at, tenant, runner, output, llm_source, llm_calls, llm_tokens_in,"
        " llm_tokens_out, llm_time_ms, llm_models)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _storable(
            entry.id, entry.kind, entry.caller, entry.mode, hashlib.sha256(encoded).hexdigest(), len(encoded),
            int(success), error_type, _kept(error, errors), elapsed, *counts, created, entry.tenant,
            entry.runner, _kept(printed, output), entry.llm_source if entry.llm_usage is not None else None,
            *_usage_columns(entry.llm_usage),
        ),
    )  # fmt: skip
    return [head, *rows]


def _usage_columns(usage: object) -> tuple[Any, ...]:
    """llm.Usage.to_wire() as the five llm_ columns (all null without one). What a runner reported
    for a trace is read by type: it passed the response model, but the row must not fail on it."""
    if not isinstance(usage, Mapping):
        return (None,) * 5
    models = usage.get("models")
    names = ",".join(m for m in models if isinstance(m, str)) if isinstance(models, list) else None
    return (
        usage.get("calls"),
        usage.get("tokens_in"),
        usage.get("tokens_out"),
        usage.get("time_ms"),
        names or None,
    )


# What ends a text the log cut.
CUT_MARKER = " [truncated]"
# The start of an escape (`\x00`, `\ud800`) that a cut at MAX_TEXT split: dropped with the rest.
_SPLIT_ESCAPE = re.compile(r"\\(?:x0?|u(?:d[0-9a-f]{0,2})?)?\Z")


def _kept(text: str | None, kept: bool) -> str | None:
    """Script text as a row holds it: nothing unless the operator keeps its kind, else at most
    MAX_TEXT characters as stored, escapes included (cut before escaping, 4,096 lone surrogates
    were stored as 24,576 characters), and the marker."""
    if text is None or not kept:
        return None
    stored = storable(text[:MAX_TEXT])
    if len(stored) <= MAX_TEXT and len(text) <= MAX_TEXT:
        return stored
    return _SPLIT_ESCAPE.sub("", stored[:MAX_TEXT]) + CUT_MARKER


def _storable(*params: Any) -> tuple[Any, ...]:
    # Every text a row holds passes here: trace ids and tenant keys come from callers, the rest from
    # scripts.
    return tuple(storable(value) if isinstance(value, str) else value for value in params)


async def write(db: Database, entry: LogEntry) -> bool:
    """Write one request in a single batch. A failure is reported on stderr (the Worker's log) and
    swallowed: the log must never fail or delay an answer."""
    try:
        await db.batch(statements(entry))
    except Exception as error:  # noqa: BLE001 - any failure of the store, reported and dropped
        print(f"execution log write failed for {entry.id}: {type(error).__name__}: {error}", file=sys.stderr)
        return False
    return True


ROW_COLUMNS = (
    "id, kind, caller, tenant, mode, runner, code_sha256, code_size, success, error_type, error, output,"
    " execution_time_ms, trace_count, passed_count, failed_count, error_count, timeout_count,"
    " not_run_count, llm_source, llm_calls, llm_tokens_in, llm_tokens_out, llm_time_ms, llm_models,"
    " created_at"
)


async def recent(
    db: Database, limit: int, caller: str | None = None, tenant: str | None = None
) -> list[dict[str, Any]]:
    """The latest rows, newest first; only `caller`'s, and of those only `tenant`'s, when given. Who
    may read which rows is the API's decision (sandbox.api), not the log's."""
    conditions = [(column, value) for column, value in (("caller", caller), ("tenant", tenant)) if value]
    where = " WHERE " + " AND ".join(f"{column} = ?" for column, _ in conditions) if conditions else ""
    sql = f"SELECT {ROW_COLUMNS} FROM executions{where} ORDER BY created_at DESC, rowid DESC LIMIT ?"
    # Matched as they were written (storable), so a key with a NUL finds its own rows.
    params = (*(storable(value) for _, value in conditions), max(1, min(limit, MAX_RECENT)))
    rows = await db.query(sql, params)
    return [{**row, "success": bool(row["success"])} for row in rows]


class SqliteDatabase:
    """The `Database` interface over a local SQLite file (or ":memory:"), with the Worker's
    migrations applied: the CLI's log, and the tests' real database."""

    def __init__(self, path: str | Path, migrations: Path = MIGRATIONS) -> None:
        import sqlite3  # here, not at the top: the Worker imports this module but never needs it

        self.connection = sqlite3.connect(str(path))
        self.connection.row_factory = sqlite3.Row
        # PRAGMA user_version counts the migrations applied. A log made before it counted them
        # holds the first one (its executions table), and no other.
        applied = self.connection.execute("PRAGMA user_version").fetchone()[0]
        if (
            applied == 0
            and self.connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'executions'"
            ).fetchone()
        ):
            applied = 1
        files = sorted(migrations.glob("*.sql"))
        for migration in files[applied:]:
            self.connection.executescript(migration.read_text())
        self.connection.execute(f"PRAGMA user_version = {len(files)}")

    async def batch(self, statements: Sequence[Statement]) -> None:
        with self.connection:  # one transaction, as D1's batch is
            for sql, params in statements:
                self.connection.execute(sql, params)

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(sql, params).fetchall()]


def run_now(awaitable: Any) -> Any:
    """Drive a coroutine that never suspends (the SQLite adapter's) without an event loop, which
    Pyodide's test run and the CLI do not have."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended; run it on an event loop")
