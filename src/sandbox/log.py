"""The execution log: what each request did, as rows for D1 (in the Worker) or SQLite (CLI, tests).

The log speaks to a D1-shaped interface, `Database`: a batch of prepared statements written at once,
and a query. The Worker adapts D1 to it (src/entry.py); `SqliteDatabase` adapts sqlite3, so the same
SQL runs against a real SQLite database in the tests.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

Statement = tuple[str, tuple[Any, ...]]

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
MAX_RECENT = 100
# Errors and reasons are kept whole up to this many characters; a run may print far more.
MAX_TEXT = 4096


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


def statements(entry: LogEntry) -> list[Statement]:
    """The INSERTs for one request: its row, and for an evaluate request one row per trace."""
    created = entry.created_at or datetime.now(UTC).isoformat(timespec="milliseconds")
    encoded = entry.code.encode("utf-8", errors="surrogatepass")
    wire = entry.result
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
                " error_type, execution_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.id,
                    position,
                    r["trace_id"],
                    None if r.get("passed") is None else int(r["passed"]),
                    r.get("score"),
                    _clip(r.get("reason")),
                    _clip(r.get("error")),
                    r.get("errorType"),
                    r.get("execution_time_ms", 0.0),
                ),
            )
            for position, r in enumerate(results)
        ]
    else:
        success, error, error_type = bool(wire.get("success")), wire.get("error"), wire.get("errorType")
        elapsed = wire.get("executionTimeMs", 0.0)
    head = (
        "INSERT INTO executions (id, kind, caller, mode, code_sha256, code_size, success, error_type, error,"
        " execution_time_ms, trace_count, passed_count, failed_count, error_count, timeout_count,"
        " not_run_count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.id, entry.kind, entry.caller, entry.mode, hashlib.sha256(encoded).hexdigest(), len(encoded),
            int(success), error_type, _clip(error), elapsed, *counts, created,
        ),
    )  # fmt: skip
    return [head, *rows]


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + " [truncated]"


async def write(db: Database, entry: LogEntry) -> bool:
    """Write one request in a single batch. A failure is reported on stderr (the Worker's log) and
    swallowed: the log must never fail or delay an answer."""
    try:
        await db.batch(statements(entry))
    except Exception as error:  # noqa: BLE001 - any failure of the store, reported and dropped
        print(f"execution log write failed for {entry.id}: {type(error).__name__}: {error}", file=sys.stderr)
        return False
    return True


RECENT_SQL = (
    "SELECT id, kind, caller, mode, code_sha256, code_size, success, error_type, error, execution_time_ms,"
    " trace_count, passed_count, failed_count, error_count, timeout_count, not_run_count, created_at"
    " FROM executions ORDER BY created_at DESC, rowid DESC LIMIT ?"
)


async def recent(db: Database, limit: int) -> list[dict[str, Any]]:
    rows = await db.query(RECENT_SQL, (max(1, min(limit, MAX_RECENT)),))
    return [{**row, "success": bool(row["success"])} for row in rows]


class SqliteDatabase:
    """The `Database` interface over a local SQLite file (or ":memory:"), with the Worker's
    migrations applied: the CLI's log, and the tests' real database."""

    def __init__(self, path: str | Path, migrations: Path = MIGRATIONS) -> None:
        import sqlite3  # here, not at the top: the Worker imports this module but never needs it

        self.connection = sqlite3.connect(str(path))
        self.connection.row_factory = sqlite3.Row
        applied = {
            row[0]
            for row in self.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        }
        if "executions" not in applied:
            for migration in sorted(migrations.glob("*.sql")):
                self.connection.executescript(migration.read_text())

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
