// A stub LLM for the end-to-end tests: the platform's "LLM gateway Worker" that the sandbox reaches
// through its LLM service binding. It answers deterministically and records what it was asked;
// GET /asked returns the record, GET /reset returns it and clears it.
import { WorkerEntrypoint } from "cloudflare:workers";

const asked = [];

// The answer is a function of the prompt: "PASS" when the prompt says so, else "FAIL"; prompts
// that say "SLEEP" answer after two seconds.
export default class extends WorkerEntrypoint {
  async complete(request) {
    asked.push(request);
    if (request.prompt.includes("SLEEP")) await new Promise((resolve) => setTimeout(resolve, 2000));
    const verdict = request.prompt.includes("PASS") ? "PASS" : "FAIL";
    return { text: `${verdict} (stub, ${request.prompt.length} chars)`, model: request.model, tokensIn: 7, tokensOut: 3 };
  }

  async fetch(request) {
    const record = Response.json(asked);
    if (new URL(request.url).pathname === "/reset") asked.length = 0;
    return record;
  }
}
