// Calls each RPC method of the sandbox Worker through the SANDBOX service binding and returns what
// came back. Types: types/sandbox.d.ts.

const EVAL = `
def eval_answered(trace):
    return bool(trace.get("answer")), "answer present" if trace.get("answer") else "no answer"
`;

const CALLS = {
  "/execute": (sandbox) => sandbox.execute({ code: "print(6 * 7)" }),
  "/evaluate": (sandbox) =>
    sandbox.evaluate({
      evalCode: EVAL,
      traces: [
        { trace_id: "t1", data: { answer: "42" } },
        { trace_id: "t2", data: {} },
      ],
    }),
  "/validate": (sandbox) => sandbox.validate({ code: "import os" }),
};

export default {
  async fetch(request, env) {
    const call = CALLS[new URL(request.url).pathname];
    if (!call) {
      return Response.json({ routes: Object.keys(CALLS) }, { status: 404 });
    }
    return Response.json(await call(env.SANDBOX));
  },
};
