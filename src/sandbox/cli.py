"""`sandbox exec`, `sandbox eval` and `sandbox check`: the engine from a shell, one JSON object out.

Exit codes: 0 success (valid, every trace judged), 1 failure (invalid, some trace without a valid
verdict), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import uuid
from collections.abc import Sequence
from typing import NoReturn

from . import log
from .evals import BatchExecutionResult, evaluate
from .limits import MIB, Limits
from .policy import Policy
from .results import ExecutionResult
from .runner import execute, validate


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sandbox", description="Run or check untrusted Python in the sandbox.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("exec", help="run a script and print the result as JSON")
    run.add_argument("path", help="the script, or - for standard input")
    run.add_argument("--timeout-ms", type=int, help=f"time budget (default and maximum {Limits.timeout_ms})")
    run.add_argument("--memory-mb", type=int, help=f"memory budget (default {Limits.memory_bytes // MIB})")
    run.add_argument(
        "--allow-imports", default="", help="comma-separated modules to allow beyond json, re, typing"
    )
    run.add_argument(
        "--log", metavar="FILE", help="append the run to this SQLite log (the Worker's D1 schema)"
    )

    batch = commands.add_parser("eval", help="run an eval function over a file of traces")
    batch.add_argument("path", help="the eval script, or - for standard input")
    batch.add_argument("--traces", required=True, help="a JSON array or JSON Lines file of {trace_id, data}")
    batch.add_argument(
        "--function", help="the entry point (default: the one eval_* function, else eval_function)"
    )
    batch.add_argument(
        "--task", type=_json_argument, help='the task object, as JSON: {"user_message": "..."}'
    )
    batch.add_argument("--task-metadata", type=_json_argument, help="the task metadata object, as JSON")
    batch.add_argument(
        "--allow-imports", default="", help="comma-separated modules to allow beyond json, re, typing"
    )
    batch.add_argument(
        "--timeout-ms", type=int, help=f"time budget per trace (default and maximum {Limits.timeout_ms})"
    )
    batch.add_argument("--log", metavar="FILE", help="append the batch to this SQLite log")

    check = commands.add_parser("check", help="analyse a script without running it")
    check.add_argument("path", help="the script, or - for standard input")
    check.add_argument(
        "--allow-imports", default="", help="comma-separated modules to allow beyond json, re, typing"
    )
    return parser


def _json_argument(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None


def _read_traces(path: str) -> list[object]:
    """A JSON array, or JSON Lines (one trace per non-blank line)."""
    text = _read(path)
    try:
        if text.lstrip().startswith("["):
            traces = json.loads(text)
        else:
            traces = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as error:
        raise _UsageError(f"{path} is neither a JSON array nor JSON Lines: {error}") from None
    if not isinstance(traces, list):
        raise _UsageError(f"{path} must hold a list of traces")
    return traces


class _Progress:
    """A one-line progress bar on stderr, drawn only on a terminal and for batches worth it."""

    def __init__(self, total: int) -> None:
        self.enabled = sys.stderr.isatty() and total >= 20

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} traces")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as source:
            return source.read()
    except (OSError, UnicodeDecodeError) as error:
        raise _UsageError(f"cannot read {path}: {error}") from None


class _UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        policy = Policy.allowing(args.allow_imports.split(","))
        code = _read(args.path)
        if args.command == "check":
            result = validate(code, policy)
            print(json.dumps(result.to_wire()))
            return 0 if result.valid else 1
        overrides = {"timeout_ms": args.timeout_ms}
        if getattr(args, "memory_mb", None) is not None:
            overrides["memory_bytes"] = args.memory_mb * MIB
        limits = Limits().with_overrides(**overrides)
        if args.command == "eval":
            traces = _read_traces(args.traces)
            batch = evaluate(
                code,
                traces,
                args.function,
                args.task,
                args.task_metadata,
                limits,
                policy,
                _Progress(len(traces)),
            )
            _log(args.log, "evaluate", code, batch)
            print(json.dumps(batch.to_wire()))
            return 0 if batch.all_valid else 1
    except (ValueError, _UsageError) as error:  # BatchInputError is a ValueError
        print(f"sandbox: error: {error}", file=sys.stderr)
        return 2
    outcome = execute(code, limits, policy)
    _log(args.log, "execute", code, outcome)
    print(json.dumps(outcome.to_wire()))
    return 0 if outcome.success else 1


def _log(path: str | None, kind: str, code: str, result: ExecutionResult | BatchExecutionResult) -> None:
    """The same rows the Worker writes to D1, in a local SQLite file."""
    if path is not None:
        entry = log.LogEntry(
            id=uuid.uuid4().hex, kind=kind, caller="local", code=code, result=result.to_wire(), mode="cli"
        )
        log.run_now(log.write(log.SqliteDatabase(path), entry))


def entry() -> NoReturn:
    """The console script. Leaves without finalising the interpreter: finalisation frees whatever
    host caches still hold, and by then sys.monitoring no longer stops a script's code, so a
    generator's `finally` or a `__del__` reached through class machinery could run unbudgeted and
    keep the process from ever exiting."""
    code = 1
    try:
        code = main()
    except SystemExit as exit_:  # usage errors and --help
        code = exit_.code if isinstance(exit_.code, int) else 0
    except BaseException:  # noqa: BLE001 - a failure of the CLI itself, reported as Python would
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    entry()
