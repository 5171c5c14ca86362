"""`sandbox exec PATH|-` and `sandbox check PATH|-`: the engine from a shell, one JSON object out.

Exit codes: 0 success (or valid), 1 failure (or invalid), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .limits import MIB, Limits
from .policy import Policy
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

    check = commands.add_parser("check", help="analyse a script without running it")
    check.add_argument("path", help="the script, or - for standard input")
    check.add_argument(
        "--allow-imports", default="", help="comma-separated modules to allow beyond json, re, typing"
    )
    return parser


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
        if args.memory_mb is not None:
            overrides["memory_bytes"] = args.memory_mb * MIB
        limits = Limits().with_overrides(**overrides)
    except (ValueError, _UsageError) as error:
        print(f"sandbox: error: {error}", file=sys.stderr)
        return 2
    outcome = execute(code, limits, policy)
    print(json.dumps(outcome.to_wire()))
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
