// Runs one of the benchmark scripts (bench, bench_cpu, bench_guards: the first argument) inside
// Pyodide 314 under Node, with the rest of the arguments; called by the script itself, which prints
// one JSON object on its last line there. bench.py also times the first `import sandbox` in this
// fresh interpreter.
import { loadPyodide } from "pyodide";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [script, ...args] = process.argv.slice(2);
if (!["bench", "bench_cpu", "bench_guards"].includes(script)) {
  throw new Error("usage: bench-pyodide.mjs bench|bench_cpu|bench_guards [arguments]");
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
pyodide.setStdout({ write: (bytes) => { process.stdout.write(bytes); return bytes.length; } });
pyodide.globals.set("bench_script", script);
pyodide.globals.set("bench_args", pyodide.toPy(args));
await pyodide.runPythonAsync(`
import importlib
import sys
sys.path[:0] = ["/repo/src", "/repo/scripts"]
sys.argv = [bench_script + ".py", *bench_args]
importlib.import_module(bench_script).main()
`);
