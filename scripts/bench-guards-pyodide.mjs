// Runs scripts/bench_guards.py inside Pyodide 314 under Node (called by bench_guards.py itself);
// prints one JSON object on its last line.
import { loadPyodide } from "pyodide";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
pyodide.setStdout({ write: (bytes) => { process.stdout.write(bytes); return bytes.length; } });
await pyodide.runPythonAsync(`
import sys
sys.path[:0] = ["/repo/src", "/repo/scripts"]
import bench_guards
bench_guards.main()
`);
