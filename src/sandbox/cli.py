"""`sandbox exec`, `sandbox eval` and `sandbox check`: the engine from a shell.

Exit codes: 0 success (valid, every trace judged), 1 failure (invalid, some trace without a valid
verdict, or with `--require-pass` some verdict failed), 2 usage errors (bad options, unreadable or
malformed files, a log that cannot be opened or written). Usage errors are one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from . import log
from .evals import BatchExecutionResult, evaluate
from .limits import MAXIMA, MIB, Limits, check_json_text
from .llm import LLM
from .llm_backends import KEY_VARIABLE, http_backend
from .policy import Policy
from .results import ExecutionResult
from .runner import execute, validate

# Files of traces are read before the engine sees them: json.loads recurses in C, so their nesting is
# measured first. The bound is the engine's maximum, so deeper trace data gets the engine's message.
_FILE_LIMITS = Limits(nesting_depth=MAXIMA["nesting_depth"])
_BOM = "\ufeff"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _bounded(unit: str, maximum: int) -> Callable[[str], int]:
    """An option's value, checked in the unit the option is given in (MB, not bytes)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number of {unit}: {text!r}") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} {unit} is outside 1 to {maximum} {unit}")
        return value

    return parse


_TIMEOUT_MS = _bounded("ms", MAXIMA["timeout_ms"])
_MEMORY_MB = _bounded("MB", MAXIMA["memory_bytes"] // MIB)
_ALLOW_HELP = "comma-separated modules to allow beyond json, re, typing"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sandbox", description="Run or check untrusted Python in the sandbox.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    defaults = Limits()

    run = commands.add_parser("exec", help="run a script and print the result as JSON")
    run.add_argument("path", help="the script, or - for standard input")
    run.add_argument(
        "--timeout-ms", type=_TIMEOUT_MS, help=f"time budget (default and maximum {defaults.timeout_ms})"
    )
    run.add_argument(
        "--memory-mb",
        type=_MEMORY_MB,
        help=f"memory budget in MB (default {defaults.memory_bytes // MIB}, maximum {MAXIMA['memory_bytes'] // MIB})",
    )
    run.add_argument("--allow-imports", default="", help=_ALLOW_HELP)
    run.add_argument(
        "--log", metavar="FILE", help="append the run to this SQLite log (the Worker's D1 schema)"
    )

    batch = commands.add_parser("eval", help="run one or more eval functions over a set of traces")
    batch.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="eval scripts, directories of them (*.py), or - for standard input",
    )
    batch.add_argument(
        "--traces",
        required=True,
        help="a JSON file (one trace, or an array), JSON Lines, or a directory of .json files;"
        " each trace is {trace_id, data} or the raw trace (its trace_id, else its position, names it)",
    )
    batch.add_argument(
        "--function", help="the entry point (default: the one eval_* function, else eval_function)"
    )
    batch.add_argument(
        "--task", type=_json_argument, help='the task object, as JSON: {"user_message": "..."}'
    )
    batch.add_argument("--task-metadata", type=_json_argument, help="the task metadata object, as JSON")
    batch.add_argument("--allow-imports", default="", help=_ALLOW_HELP)
    batch.add_argument(
        "--timeout-ms",
        type=_TIMEOUT_MS,
        help=f"time budget per trace (default and maximum {defaults.timeout_ms})",
    )
    batch.add_argument(
        "--memory-mb",
        type=_MEMORY_MB,
        help=f"memory budget per trace in MB (default {defaults.memory_bytes // MIB})",
    )
    batch.add_argument(
        "--format",
        choices=("json", "table"),
        default="json",
        help="json (default): the batch result, or {evals: [...]} for several; table: a summary for people",
    )
    batch.add_argument(
        "--require-pass",
        action="store_true",
        help="exit 1 when any verdict fails, not only when a trace has no valid verdict (for CI)",
    )
    batch.add_argument("--log", metavar="FILE", help="append each batch to this SQLite log")
    batch.add_argument(
        "--llm-endpoint",
        metavar="URL",
        help="an OpenAI-compatible API (its base, e.g. https://api.openai.com/v1) that answers ctx.call_llm;"
        f" the key, if it needs one, is read from the environment variable {KEY_VARIABLE}",
    )
    batch.add_argument(
        "--llm-model",
        metavar="NAME",
        action="append",
        default=[],
        help="a model ctx.call_llm may name (repeat for several; the first is the default)",
    )

    check = commands.add_parser(
        "check", help="analyse a script without running it; for an eval, report the entry point eval uses"
    )
    check.add_argument("path", help="the script, or - for standard input")
    check.add_argument("--allow-imports", default="", help=_ALLOW_HELP)
    check.add_argument("--function", help="the entry point eval would be given (default: as eval chooses it)")
    return parser


def _json_argument(text: str) -> object:
    try:
        check_json_text(_FILE_LIMITS, text)
        return json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None


class _UsageError(Exception):
    pass


# --- reading files --------------------------------------------------------------------------------


def _read(path: str) -> str:
    """A script or a trace file as text; a UTF-8 byte order mark, which some editors write, is dropped."""
    if path == "-":
        return sys.stdin.read().removeprefix(_BOM)
    try:
        with open(path, encoding="utf-8-sig") as source:
            return source.read()
    except (OSError, UnicodeDecodeError) as error:
        raise _UsageError(f"cannot read {path}: {error}") from None


def _scripts(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, source) of every eval: files as given, directories as their *.py files, sorted."""
    if paths.count("-") > 1:
        raise _UsageError("standard input (-) can be read only once")
    scripts = []
    for path in paths:
        if path != "-" and Path(path).is_dir():
            found = sorted(Path(path).glob("*.py"))
            if not found:
                raise _UsageError(f"{path} holds no .py files")
            scripts.extend((str(file), _read(str(file))) for file in found)
        else:
            scripts.append((path, _read(path)))
    return scripts


def _read_traces(path: str) -> list[tuple[str, dict[str, Any]]]:
    """Traces in the shapes people keep them: one trace per file (pretty-printed, as the platforms'
    samples are), an array, JSON Lines, or a directory of .json files. Each is `{trace_id, data}` or
    the raw trace, named by its own trace_id, else by its position (or its file, in a directory).
    Every trace comes with where it was read, for messages."""
    source = Path(path)
    if not source.is_dir():
        return _traces_in(path, source.stem, in_directory=False)
    files = sorted(source.glob("*.json"))
    if not files:
        raise _UsageError(f"{path} holds no .json files")
    return [trace for file in files for trace in _traces_in(str(file), file.stem, in_directory=True)]


def _traces_in(path: str, stem: str, in_directory: bool) -> list[tuple[str, dict[str, Any]]]:
    text = _read(path)
    try:
        check_json_text(_FILE_LIMITS, text)
    except ValueError as error:
        raise _UsageError(f"cannot read traces from {path}: {error}") from None
    try:
        document = json.loads(text)
    except ValueError as whole:
        items = _json_lines(path, text, whole)
    else:
        if not isinstance(document, list):
            return [(path, _batch_trace(path, document, stem))]
        items = document
    return [
        (where, _batch_trace(where, item, f"{stem}[{position}]" if in_directory else str(position)))
        for position, item in enumerate(items)
        for where in [f"{path}[{position}]"]
    ]


def _json_lines(path: str, text: str, whole: ValueError) -> list[object]:
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < 2:
        raise _UsageError(f"{path} is not JSON: {whole}")
    items = []
    for number, line in lines:
        try:
            items.append(json.loads(line))
        except ValueError as error:
            raise _UsageError(f"{path} is neither JSON nor JSON Lines: line {number}: {error}") from None
    return items


def _batch_trace(where: str, item: object, fallback_id: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _UsageError(f"{where} is {type(item).__name__}, not a trace object")
    if set(item) == {"trace_id", "data"} and isinstance(item["trace_id"], str):
        return item
    own = item.get("trace_id")
    return {"trace_id": own if isinstance(own, str) and own else fallback_id, "data": item}


def _unique(traces: list[tuple[str, dict[str, Any]]]) -> None:
    """The CLI's own check, to say which files hold the duplicates; the engine refuses them too."""
    first: dict[str, int] = {}
    for position, (where, trace) in enumerate(traces):
        earlier = first.setdefault(trace["trace_id"], position)
        if earlier != position:
            raise _UsageError(
                f"the trace_id {trace['trace_id']!r} is used twice, by {traces[earlier][0]} and by {where};"
                " trace ids must be unique"
            )


# --- the log --------------------------------------------------------------------------------------


@dataclass
class _Log:
    """The local execution log, opened before anything runs, so a bad path costs no run."""

    path: str
    database: log.SqliteDatabase

    @classmethod
    def open(cls, path: str | None) -> _Log | None:
        if path is None:
            return None
        try:
            return cls(path, log.SqliteDatabase(path))
        except sqlite3.Error as error:
            raise _UsageError(f"cannot open the log {path}: {error}") from None

    def write(self, kind: str, code: str, result: ExecutionResult | BatchExecutionResult) -> bool:
        """The same rows the Worker writes to D1; False (and the reason on stderr) if it failed."""
        wire = result.to_wire()
        entry = log.LogEntry(
            id=uuid.uuid4().hex,
            kind=kind,
            caller="local",
            code=code,
            result=wire,
            mode="cli",
            keep=log.TEXT_KINDS,  # the user's own log, on their own machine: errors and output too
            # The engine's own count of ctx.call_llm calls: the CLI has no front Worker.
            llm_source="cli" if "llm" in wire else None,
            llm_usage=wire.get("llm"),
        )
        return bool(log.run_now(log.write(self.database, entry)))


# --- output for people ----------------------------------------------------------------------------

_CELLS = {"timeout": "TIMEOUT", "not_run": "NOT RUN", "invalid_result": "INVALID"}


def _cell(result: dict[str, Any]) -> str:
    if result["success"]:
        return "pass" if result["passed"] else "FAIL"
    return _CELLS.get(result.get("errorType") or "", "ERROR")


def _one_line(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _columns(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _table(batches: list[tuple[str, dict[str, Any]]]) -> str:
    """A matrix of traces by evals, a line per eval with its counts, then every trace that did not
    pass with its reason or error."""
    trace_ids = [r["trace_id"] for r in batches[0][1]["results"]]
    matrix = [["trace", *(name for name, _ in batches)]]
    for position, trace_id in enumerate(trace_ids):
        matrix.append([trace_id, *(_cell(wire["results"][position]) for _, wire in batches)])
    counts = []
    failing = []
    for name, wire in batches:
        s = wire["summary"]
        entry = "invalid eval" if wire.get("error") is not None else wire.get("entryPoint", "")
        counts.append(
            [name, entry, f"{s['passed']} passed, {s['failed']} failed, {s['errors']} errors,"
             f" {s['timeouts']} timeouts, {s['not_run']} not run", f"{wire['total_time_ms']:.1f} ms"]
        )  # fmt: skip
        if wire.get("error") is not None:
            where = f" (line {wire['line']})" if wire.get("line") is not None else ""
            failing.append([name, "every trace", "INVALID EVAL", _one_line(wire["error"]) + where])
            continue
        for result in wire["results"]:
            if not (result["success"] and result["passed"]):
                why = result.get("reason") if result["success"] else result.get("error")
                failing.append([name, result["trace_id"], _cell(result), _one_line(why or "")])
    lines = [*_columns(matrix), "", *_columns(counts)]
    if failing:
        lines += ["", "Not passed:", *_columns(failing, indent="  ")]
    return "\n".join(lines)


# --- commands -------------------------------------------------------------------------------------


class _Progress:
    """A one-line progress bar on stderr, drawn only on a terminal and for batches worth it."""

    def __init__(self, total: int, label: str = "") -> None:
        self.enabled = sys.stderr.isatty() and total >= 20
        self.label = label

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r{self.label}[{'#' * filled}{'.' * (width - filled)}] {done}/{total} traces")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _limits(args: argparse.Namespace) -> Limits:
    memory = args.memory_mb * MIB if args.memory_mb is not None else None
    return Limits().with_overrides(timeout_ms=args.timeout_ms, memory_bytes=memory)


def _llm(args: argparse.Namespace) -> LLM | None:
    """The model behind ctx.call_llm, from --llm-endpoint and --llm-model; the key never comes from
    the command line, where other users of the machine can read it (ps, shell history)."""
    if args.llm_endpoint is None:
        if args.llm_model:
            raise _UsageError("--llm-model needs --llm-endpoint")
        return None
    if not args.llm_endpoint.startswith(("http://", "https://")):
        raise _UsageError(f"--llm-endpoint must be an http:// or https:// URL, not {args.llm_endpoint!r}")
    key = os.environ.get(KEY_VARIABLE) or None
    return LLM(http_backend(args.llm_endpoint, key), models=tuple(args.llm_model))


def _eval(args: argparse.Namespace, policy: Policy, local_log: _Log | None) -> tuple[str, int, bool]:
    """Run every eval over the traces: the output, the exit code, and whether the log took it all."""
    llm = _llm(args)
    scripts = _scripts(args.paths)
    sourced = _read_traces(args.traces)
    _unique(sourced)
    traces = [trace for _, trace in sourced]
    limits = _limits(args)
    batches: list[tuple[str, dict[str, Any]]] = []
    logged = True
    passed_all = judged_all = True
    for name, code in scripts:
        label = f"{name} " if len(scripts) > 1 else ""
        batch = evaluate(
            code,
            traces,
            args.function,
            args.task,
            args.task_metadata,
            limits,
            policy,
            _Progress(len(traces), label),
            llm,
        )
        if local_log is not None:
            logged = local_log.write("evaluate", code, batch) and logged
        judged_all = judged_all and batch.all_valid
        passed_all = passed_all and batch.all_valid and all(r.passed for r in batch.results)
        batches.append((name, batch.to_wire()))
    several = len(args.paths) > 1 or any(p != "-" and Path(p).is_dir() for p in args.paths)
    if args.format == "table":
        output = _table(batches)
    elif several:
        output = json.dumps({"evals": [{"eval": name, **wire} for name, wire in batches]})
    else:
        output = json.dumps(batches[0][1])
    failed = not judged_all or (args.require_pass and not passed_all)
    return output, 1 if failed else 0, logged


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        policy = Policy.allowing(args.allow_imports)
        if args.command == "check":
            result = validate(_read(args.path), policy, function=args.function)
            print(json.dumps(result.to_wire()))
            return 0 if result.valid else 1
        local_log = _Log.open(args.log)
        if args.command == "eval":
            output, status, logged = _eval(args, policy, local_log)
        else:
            code = _read(args.path)
            outcome = execute(code, _limits(args), policy)
            logged = local_log.write("execute", code, outcome) if local_log is not None else True
            output, status = json.dumps(outcome.to_wire()), 0 if outcome.success else 1
    except (ValueError, _UsageError) as error:  # BatchInputError is a ValueError
        print(f"sandbox: error: {error}", file=sys.stderr)
        return 2
    # The result first: a log that failed must not cost the caller the run it paid for.
    print(output)
    if not logged:
        assert local_log is not None
        print(
            f"sandbox: error: the run above could not be written to the log {local_log.path}", file=sys.stderr
        )
        return 2
    return status


def entry() -> NoReturn:
    """The console script. Leaves without finalising the interpreter: finalisation frees whatever
    host caches still hold, and by then sys.monitoring no longer stops a script's code, so a
    generator's `finally` or a `__del__` reached through class machinery could run unbudgeted and
    keep the process from ever exiting."""
    code = 1
    try:
        code = main()
        sys.stdout.flush()
    except SystemExit as exit_:  # usage errors and --help
        code = exit_.code if isinstance(exit_.code, int) else 0
    except BrokenPipeError:  # `sandbox exec … | head`: the reader has gone, nobody to tell
        code = CLOSED_PIPE_EXIT
    except BaseException:  # noqa: BLE001 - a failure of the CLI itself, reported as Python would
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):  # a closed pipe again: what is left has no reader
                stream.flush()
        os._exit(code)


# The status of a command whose output pipe closed, as a shell reports a process ended by SIGPIPE.
CLOSED_PIPE_EXIT = 128 + 13


if __name__ == "__main__":
    entry()
