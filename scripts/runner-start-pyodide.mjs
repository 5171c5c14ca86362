// What a runner isolate's first call costs that is ours, measured in Pyodide 314 under Node, in
// one run: starting the interpreter (workerd starts Python Workers from a snapshot instead, so this
// is an upper bound), importing the runner's main module and the engine from source, the first call
// and the following ones, all as a runner receives them (JSON text). Prints one JSON object.
//
//     node_modules/.bin/node scripts/runner-start-pyodide.mjs [following calls, default 50]
import { loadPyodide } from "pyodide";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const calls = Number(process.argv[2] ?? 50);
const started = performance.now();
const pyodide = await loadPyodide();
const interpreterMs = performance.now() - started;
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
pyodide.globals.set("calls", calls);
pyodide.globals.set("interpreter_ms", interpreterMs);
await pyodide.runPythonAsync(`
import json, statistics, sys, time, types

sys.path.insert(0, "/repo/src")
# workerd provides the runner's \`workers\` module; WorkerEntrypoint is all the runner takes from it.
workers = types.ModuleType("workers")
workers.WorkerEntrypoint = type("WorkerEntrypoint", (), {"__init__": lambda self, ctx, env: None})
sys.modules["workers"] = workers

request = json.dumps({"code": "total = 0\\nfor i in range(1000):\\n    total += i\\nprint(total)"})
started = time.perf_counter()
import isolate_entry
runner = isolate_entry.Default(None, None)
import_ms = (time.perf_counter() - started) * 1000

async def timed():
    started = time.perf_counter()
    answer = json.loads(await runner.execute(request))
    assert answer["output"] == "499500", answer
    return (time.perf_counter() - started) * 1000

first_ms = await timed()
following = [await timed() for _ in range(calls)]
print(json.dumps({
    "interpreter_start_ms": round(interpreter_ms, 1),
    "runner_import_ms": round(import_ms, 1),
    "first_call_ms": round(first_ms, 2),
    "following_call_ms_median": round(statistics.median(following), 2),
}))
`);
