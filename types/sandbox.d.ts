// The sandbox Worker's RPC interface, for callers that bind to it with a service binding:
//
//   [[services]]
//   binding = "SANDBOX"
//   service = "python-sandbox"
//   props = { caller = "my-platform" }   # the caller's identity: required (README, "Who shares a runner")
//
//   const result = await env.SANDBOX.execute({ code: "print(1)" });
//
// Field names and shapes follow schema/api.schema.json, which the Worker also serves at
// GET /v1/schema. Every method resolves; a refused request comes back as an ErrorResponse, which
// keeps `success: false`, `error`, `errorType` and `executionTimeMs` (and, for evaluate, `results`),
// so code that reads a result's `success` works on it unchanged.

/** Why a run failed. Only "timeout" is a timeout: retry on this, never on the error's text. */
export type ErrorType = "validation" | "timeout" | "memory" | "output_limit" | "runtime" | "internal";
/** A trace may also return something that is no verdict, be not run once the batch budget is spent,
 * or end because a ctx.call_llm call failed or ran out of its budget ("llm_error");
 * "request": the request was refused (see ErrorResponse). */
export type TraceErrorType = ErrorType | "invalid_result" | "not_run" | "llm_error" | "request";

/** Which runner isolate runs the request (README, "Who shares a runner"). */
export interface Placement {
  /** 1 to 128 characters, e.g. a tenant or workspace id: runners are never shared across keys. */
  isolationKey?: string | null;
  /** "warm" (default): the key's runner, kept warm; "fresh": a runner no other request uses. */
  isolation?: "warm" | "fresh";
}

export interface Options extends Placement {
  /** Modules beyond json, re and typing, within the server's maximum; at most 32 names. */
  allowImports?: string[];
  /** Time budget per run (per trace for evaluate) in ms, 1 to 5000; null or absent: 5000. */
  timeoutMs?: number | null;
  /** Memory budget in MB, 1 to 128; null or absent: 50. */
  memoryMb?: number | null;
}

export interface ExecuteRequest extends Options {
  /** Python source, at most 262,144 bytes as UTF-8 (413 past it). */
  code: string;
}

export interface TraceInput {
  /** 1 to 256 characters, unique within the request. */
  trace_id: string;
  /** The trace object handed to the eval function; at most 262,144 bytes once encoded. */
  data: unknown;
}

export interface EvaluateRequest extends Options {
  /** Python source, at most 262,144 bytes as UTF-8 (413 past it). */
  evalCode: string;
  /** The entry point; null or absent: the one top-level eval_* function, else eval_function. */
  functionName?: string | null;
  /** At most 1,000 traces and 16 MiB of data in all (413 past it). */
  traces: TraceInput[];
  task?: Record<string, unknown> | null;
  taskMetadata?: Record<string, unknown> | null;
}

export interface ValidateRequest extends Placement {
  /** Python source, at most 262,144 bytes as UTF-8 (413 past it). */
  code: string;
  /** At most 32 names. */
  allowImports?: string[];
  functionName?: string | null;
}

/** Read the log: the caller's own rows, newest first (an operator's: every caller's). */
export interface ExecutionsRequest {
  /** 1 to 100; absent: 20. */
  limit?: number;
  /** Only the rows of requests sent with this isolationKey (a tenant). */
  isolationKey?: string | null;
  /** Only this caller's rows ("binding:<name>", "token:<prefix>", "anonymous"); operators only (403). */
  caller?: string | null;
}

export interface Violation {
  line: number;
  col: number;
  message: string;
}

export interface ExecutionResult {
  success: boolean;
  output?: string;
  error?: string;
  errorType?: ErrorType;
  line?: number;
  col?: number;
  violations?: Violation[];
  executionTimeMs: number;
}

export interface BatchTraceResult {
  trace_id: string;
  success: boolean;
  passed?: boolean;
  score?: number;
  reason?: string;
  error?: string;
  errorType?: TraceErrorType;
  output: string;
  execution_time_ms: number;
  /** With an LLM configured or passed: what this trace's ctx.call_llm calls used. */
  llm?: LlmUsage | null;
}

/** What ctx.call_llm calls used, of one trace or of a whole batch. Tokens are the backend's counts,
 * else estimated at 4 characters a token. */
export interface LlmUsage {
  calls: number;
  tokens_in: number;
  tokens_out: number;
  /** Time spent waiting for the model (it counts against the batch's wall time, not the trace's steps). */
  time_ms: number;
  /** The models that answered, in the order first used. */
  models: string[];
}

export interface BatchSummary {
  passed: number;
  failed: number;
  errors: number;
  timeouts: number;
  not_run: number;
}

export interface BatchExecutionResult {
  /** One per trace, in input order; none is ever dropped. */
  results: BatchTraceResult[];
  total_time_ms: number;
  summary: BatchSummary;
  entryPoint?: string;
  convention?: string;
  /** With an LLM configured or passed: every trace's ctx.call_llm calls together. */
  llm?: LlmUsage | null;
  /** Present when the eval code itself failed analysis; every trace's result then carries the error. */
  success?: false;
  error?: string;
  errorType?: "validation";
  line?: number;
  col?: number;
  violations?: Violation[];
}

export interface ValidationResult {
  valid: boolean;
  violations: Violation[];
  entryPoint?: string;
  convention?: string;
}

/** A refused request, or (code "internal", HTTP 500) a failure of the sandbox itself. */
export interface ErrorResponse {
  success: false;
  error: string;
  /** "request": refused before anything ran; "internal": our failure. */
  errorType: "request" | "internal";
  /** "no_isolation" (503): no LOADER binding and in-process mode not chosen; the message says how.
   * "unauthorized" (401) over RPC: the binding has no `props.caller`. "forbidden" (403): another
   * caller's log rows. "runner_backoff" (429): this caller and key's runners keep failing.
   * "too_many_requests" (429): this caller started 2 fresh runners within 10 s, or is running 32
   * requests at once. "payload_too_large" (413) also: a request or answer too large for
   * the runtime's RPC between the front Worker and a runner. */
  code: "bad_request" | "unauthorized" | "forbidden" | "not_found" | "method_not_allowed"
    | "payload_too_large" | "internal" | "no_isolation" | "runner_backoff" | "too_many_requests";
  /** For internal errors: the id of the matching line in the Worker's log. */
  errorId?: string;
  /** runner_backoff and too_many_requests only: seconds to wait before asking again (HTTP: also
   * Retry-After). */
  retryAfter?: number | null;
  /** Always 0: nothing ran. */
  executionTimeMs: number;
  /** Refusals of evaluate only: a result for each trace of the request when its traces could be read
   * (errorType "request", the same error), else empty; empty too for more traces than the limit. */
  results?: BatchTraceResult[];
  total_time_ms?: number;
}

/** GET /v1/health, the one route that needs no token. */
export interface HealthResponse {
  status: "ok";
  version: string;
  /** Where untrusted code runs: "isolate" (runner isolates), "in-process", or "none" (no loader,
   * in-process mode not chosen: execute and evaluate answer 503 no_isolation). */
  mode: string;
}

/** One row of the execution log; every field is present, null where it does not apply. */
export interface ExecutionRow {
  id: string;
  kind: "execute" | "evaluate" | "validate";
  /** "binding:" and the binding's props.caller, "token:" and a hash prefix of the token, or "anonymous". */
  caller: string;
  /** The request's isolationKey. */
  tenant: string | null;
  mode: string;
  /** The id of the named runner isolate that ran it; null for fresh, in-process or refused requests. */
  runner: string | null;
  code_sha256: string;
  code_size: number;
  success: boolean;
  error_type: string | null;
  /** The first 4 KiB of the error; null unless the operator keeps errors (SANDBOX_LOG_TEXT). */
  error: string | null;
  /** The first 4 KiB of what an execute request printed; null unless the operator keeps output. */
  output: string | null;
  execution_time_ms: number;
  trace_count: number | null;
  passed_count: number | null;
  failed_count: number | null;
  error_count: number | null;
  timeout_count: number | null;
  not_run_count: number | null;
  /** Where ctx.call_llm's model came from ("caller", "gateway", "ai", "openai"), and what the
   * request's calls used as the sandbox counted them; null without an LLM. */
  llm_source: string | null;
  llm_calls: number | null;
  llm_tokens_in: number | null;
  llm_tokens_out: number | null;
  llm_time_ms: number | null;
  /** Comma-separated, in the order first used. */
  llm_models: string | null;
  created_at: string;
}

/** GET /v1/executions?limit=N&isolationKey=K, or `executions({limit, isolationKey})` over RPC: the
 * latest rows the caller may read, newest first. */
export interface ExecutionsResponse {
  executions: ExecutionRow[];
}

/** One call of an eval function's ctx.call_llm, checked and within its budget, as an LLM capability
 * receives it. */
export interface LlmRequest {
  prompt: string;
  /** The model the script named, else the first allowed one, else null (the capability chooses). */
  model: string | null;
  temperature: number;
  maxTokens: number;
  /** How long the sandbox waits for this answer. */
  timeoutMs: number;
  /** The trace whose eval function asked. */
  traceId: string;
}

/** A calling Worker's own model, passed with evaluate: the sandbox calls `complete` for each
 * ctx.call_llm of the request and never sees the caller's keys. Pass an RpcTarget with this one
 * method (`class Judge extends RpcTarget { async complete(request) {…} }`); it is used for this
 * request only. Answer with the text, or with the text and what it used. */
export interface LlmCapability {
  complete(request: LlmRequest): Promise<string | { text: string; model?: string; tokensIn?: number; tokensOut?: number }>;
}

export interface SandboxRpc {
  execute(request: ExecuteRequest): Promise<ExecutionResult | ErrorResponse>;
  /** `llm`: the caller's own model for ctx.call_llm; without it, the sandbox's configured one, if any. */
  evaluate(request: EvaluateRequest, llm?: LlmCapability): Promise<BatchExecutionResult | ErrorResponse>;
  validate(request: ValidateRequest): Promise<ValidationResult | ErrorResponse>;
  executions(request: ExecutionsRequest): Promise<ExecutionsResponse | ErrorResponse>;
}
