// The example caller's routes, and RPC calls that are wrong on purpose. A call that throws instead
// of answering comes back as {threw: message}, for the test to see.
import { RpcTarget } from "cloudflare:workers";
import example from "../../examples/caller/src/index.js";

// The caller's own model for ctx.call_llm (an LLM capability): answers "PASS" with its own name, and
// records every member the sandbox reached on it; `secret` must never be called.
const reached = [];
class Judge extends RpcTarget {
  async complete(request) {
    reached.push(`complete:${request.prompt}`);
    return { text: `PASS from the caller's judge (${request.model ?? "its default"})`, tokensIn: 5, tokensOut: 6 };
  }
  async secret() {
    reached.push("secret");
    return "the caller's key";
  }
}

class Target extends RpcTarget {
  get code() {
    return "print('a getter ran')";
  }
}

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
  // Found by attacking the Worker layer: each threw a Python traceback at the caller, or might.
  arraybuffer: () => ({ code: "print(1)", x: new ArrayBuffer(4) }),
  dataview: () => ({ code: "print(1)", x: new DataView(new ArrayBuffer(4)) }),
  uint8array: () => ({ code: "print(1)", x: new Uint8Array(4) }),
  bigint64array: () => ({ code: "print(1)", x: new BigInt64Array(2) }),
  blob: () => ({ code: "print(1)", x: new Blob(["a"]) }),
  error: () => ({ code: "print(1)", x: new TypeError("t") }),
  regexp: () => ({ code: "print(1)", x: /a/ }),
  bigint: () => ({ code: "print(1)", x: 10n }),
  stream: () => ({ code: "print(1)", x: new ReadableStream() }),
  headers: () => ({ code: "print(1)", x: new Headers({ a: "b" }) }),
  target: () => ({ code: "print(1)", x: new Target() }),
  posing: () => ({ code: "print(1)", x: { constructor: { name: "Request" }, url: "http://x/" } }),
};

// The argument itself odd: each must be refused as "(the argument)".
const ODD_ARGUMENT = {
  arraybuffer: () => new ArrayBuffer(8),
  map: () => new Map([["code", "print(1)"]]),
  date: () => new Date(0),
  error: () => new Error("boom"),
  number: () => 5,
  array: () => [1, 2],
  null: () => null,
  target: () => new Target(),
  headers: () => new Headers({ a: "b" }),
  stream: () => new ReadableStream(),
  posing: () => ({ constructor: { name: "Request" }, url: "http://x/" }),
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
      ...(url.searchParams.has("isolation") ? { isolation: url.searchParams.get("isolation") } : {}),
    }),
  "/many-traces": (sandbox, url) =>
    sandbox.evaluate({
      evalCode: EVAL,
      traces: Array.from({ length: Number(url.searchParams.get("n")) }, (_, n) => ({ trace_id: `t${n}`, data: 0 })),
    }),
  "/odd-argument": (sandbox, url) => sandbox.execute(ODD_ARGUMENT[url.searchParams.get("case")]()),
  "/executions": (sandbox, url) => sandbox.executions(JSON.parse(url.searchParams.get("query") ?? "{}")),
  "/internal": (sandbox, url) => sandbox[url.searchParams.get("name")]({ code: "print(1)" }),
  "/odd": (sandbox, url) => sandbox.execute(ODD[url.searchParams.get("case")]()),
  // evaluate with the caller's own LLM capability; ?capability=text passes a string instead.
  "/judge": (sandbox, url) => {
    const request = JSON.parse(url.searchParams.get("request"));
    const capability = url.searchParams.get("capability") === "text" ? "not a capability" : new Judge();
    return sandbox.evaluate(request, capability);
  },
  "/reached": () => reached.splice(0),
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname.startsWith("/call/")) {
      // POST /call/<method> with a JSON body: that body as the argument, for requests too large for
      // a query string.
      const argument = await request.json();
      try {
        return Response.json(await env.SANDBOX[url.pathname.slice("/call/".length)](argument));
      } catch (error) {
        return Response.json({ threw: String(error) });
      }
    }
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
