// Runs the test suite inside Pyodide (the npm package, the same build production Workers use)
// under Node. The repository and .pyodide/site-packages are mounted into Pyodide's file system;
// arguments are passed to pytest; the exit code is pytest's.
import { loadPyodide } from "pyodide";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pyodide = await loadPyodide();
// Raw writes, so pytest's progress dots stay on one line.
for (const [stream, set] of [[process.stdout, "setStdout"], [process.stderr, "setStderr"]]) {
  pyodide[set]({ write: (bytes) => { stream.write(bytes); return bytes.length; } });
}

for (const [host, mount] of [[root, "/repo"], [path.join(root, ".pyodide", "site-packages"), "/site"]]) {
  pyodide.FS.mkdirTree(mount);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: host }, mount);
}

pyodide.globals.set("pytest_args", pyodide.toPy(process.argv.slice(2)));
const code = await pyodide.runPythonAsync(`
import os, sys
sys.path[:0] = ["/repo/src", "/site"]
os.chdir("/repo")
import pytest
# No cache (the host run owns .pytest_cache) and no faulthandler (no signals in WebAssembly).
int(pytest.main(["-p", "no:cacheprovider", "-p", "no:faulthandler", *pytest_args]))
`);
process.exit(code);
