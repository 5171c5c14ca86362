// The example caller's routes, and RPC calls that are wrong on purpose. A call that throws instead
// of answering comes back as {threw: message}, for the test to see.
import example from "../../examples/caller/src/index.js";

function nested(depth) {
  let data = {};
  for (let i = 0; i < depth; i++) data = { d: data };
  return data;
}

const EVAL = "def eval_x(trace):\n    return True, 'ok'";

// Arguments that are not plain JSON data, each with a field the refusal must name.
const ODD = {
  toJSON: () => ({ code: "print(1)", hook: { toJSON: () => "called back" } }),
  map: () => ({ code: "print(1)", traces: new Map([["t", 1]]) }),
  set: () => ({ code: "print(1)", allowImports: new Set(["json"]) }),
  nan: () => ({ code: "print(1)", timeoutMs: NaN }),
  function: () => ({ code: "print(1)", callback: () => "called back" }),
  date: () => ({ code: "print(1)", when: new Date(0) }),
};

const CALLS = {
  "/no-argument": (sandbox) => sandbox.execute(),
  "/two-arguments": (sandbox) => sandbox.execute({ code: "print(1)" }, {}),
  "/nested": (sandbox, url) =>
    sandbox.evaluate({
      evalCode: EVAL,
      traces: [{ trace_id: "t", data: nested(Number(url.searchParams.get("depth"))) }],
    }),
  "/run": (sandbox, url) =>
    sandbox.execute({
      code: url.searchParams.get("code") ?? "print(1)",
      ...(url.searchParams.has("key") ? { isolationKey: url.searchParams.get("key") } : {}),
    }),
  "/executions": (sandbox, url) => sandbox.executions(JSON.parse(url.searchParams.get("query") ?? "{}")),
  "/internal": (sandbox, url) => sandbox[url.searchParams.get("name")]({ code: "print(1)" }),
  "/odd": (sandbox, url) => sandbox.execute(ODD[url.searchParams.get("case")]()),
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const call = CALLS[url.pathname];
    if (!call) {
      return example.fetch(request, env);
    }
    try {
      return Response.json(await call(env.SANDBOX, url));
    } catch (error) {
      return Response.json({ threw: String(error) });
    }
  },
};
