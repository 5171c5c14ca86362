// `import sandbox` in fresh Pyodide 314 interpreters under Node, for scripts/bench_import.py: N
// rounds, each importing the package once in each layout (a fresh interpreter each), rotated. Prints
// one JSON object on its last line: the samples of every layout.
import { loadPyodide } from "pyodide";
import path from "node:path";
import { fileURLToPath } from "node:url";

const rounds = Number(process.argv[2] ?? 5);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function fresh() {
  const pyodide = await loadPyodide();
  pyodide.FS.mkdirTree("/repo");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
  pyodide.runPython(`import sys; sys.path.insert(0, "/repo/scripts"); import bench_import`);
  return pyodide;
}

// The runner's payload, made by the front Worker's code (isolate.worker_code) in an interpreter of its own.
const maker = await fresh();
const payloads = {};
for (const bytecode of [false, true]) {
  payloads[bytecode] = maker.runPython(`import json; json.dumps(bench_import.payload_files(${bytecode ? "True" : "False"}))`);
}

const layouts = {
  "the repository's sources (Node's file system)": `sys.path.insert(0, "/repo/src")`,
  "the runner's payload, sources": `bench_import.write_payload(json.loads(payload), "/payload"); sys.path.insert(0, "/payload")`,
  "the runner's payload with bytecode": `bench_import.write_payload(json.loads(payload), "/payload"); sys.path.insert(0, "/payload")`,
};
const samples = Object.fromEntries(Object.keys(layouts).map((name) => [name, []]));
const names = Object.keys(layouts);
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length];
    const pyodide = await fresh();
    pyodide.globals.set("payload", payloads[name.endsWith("bytecode")]);
    pyodide.runPython(`import json, sys\n${layouts[name]}`);
    samples[name].push(JSON.parse(pyodide.runPython("json.dumps(bench_import.profile())")));
  }
}
console.log(JSON.stringify(samples));
