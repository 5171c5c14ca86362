import { loadPyodide } from "pyodide";
import fs from "node:fs";
const py = await loadPyodide();
py.FS.mkdirTree("/repo"); py.FS.mount(py.FS.filesystems.NODEFS, { root: "/work/main" }, "/repo");
try { py.runPython(fs.readFileSync(process.argv[2], "utf8")); } catch (e) { console.log("JSERR", String(e).slice(-300)); }
try { console.log("after:", py.runPython("1+1")); } catch (e) { console.log("DEAD"); }
