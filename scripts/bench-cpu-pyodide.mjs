// Runs scripts/bench_cpu.py inside Pyodide 314 under Node (called by bench_cpu.py itself); prints
// one JSON object on its last line.
import { loadPyodide } from "pyodide";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
pyodide.setStdout({ write: (bytes) => { process.stdout.write(bytes); return bytes.length; } });
pyodide.globals.set("bench_args", pyodide.toPy(process.argv.slice(2)));
await pyodide.runPythonAsync(`
import sys
sys.path[:0] = ["/repo/src", "/repo/scripts"]
sys.argv = ["bench_cpu.py", *bench_args]
import bench_cpu
bench_cpu.main()
`);
