// The example caller's routes, and RPC calls that are wrong on purpose. A call that throws instead
// of answering comes back as {threw: message}, for the test to see.
import example from "../../examples/caller/src/index.js";

function nested(depth) {
  let data = {};
  for (let i = 0; i < depth; i++) data = { d: data };
  return data;
}

const EVAL = "def eval_x(trace):\n    return True, 'ok'";

const CALLS = {
  "/no-argument": (sandbox) => sandbox.execute(),
  "/two-arguments": (sandbox) => sandbox.execute({ code: "print(1)" }, {}),
  "/nested": (sandbox, url) =>
    sandbox.evaluate({
      evalCode: EVAL,
      traces: [{ trace_id: "t", data: nested(Number(url.searchParams.get("depth"))) }],
    }),
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
