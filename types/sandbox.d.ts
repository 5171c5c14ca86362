// The sandbox Worker's RPC interface, for callers that bind to it with a service binding:
//
//   [[services]]
//   binding = "SANDBOX"
//   service = "python-sandbox"
//
//   const result = await env.SANDBOX.execute({ code: "print(1)" });
//
// Field names and shapes follow schema/api.schema.json, which the Worker also serves at
// GET /v1/schema. Every method resolves; bad input comes back as an ErrorResponse.

export type ErrorType = "validation" | "timeout" | "memory" | "output_limit" | "runtime" | "internal";
export type TraceErrorType = ErrorType | "invalid_result" | "not_run";

/** Which runner isolate runs the request (README, "Who shares a runner"). */
export interface Placement {
  /** 1 to 128 characters, e.g. a tenant or workspace id: runners are never shared across keys. */
  isolationKey?: string;
  /** "warm" (default): the key's runner, kept warm; "fresh": a runner no other request uses. */
  isolation?: "warm" | "fresh";
}

export interface Options extends Placement {
  /** Modules beyond json, re and typing, within the server's maximum. */
  allowImports?: string[];
  /** Time budget per run (per trace for evaluate), at most 5000. */
  timeoutMs?: number;
  /** Memory budget in MB, at most 128. */
  memoryMb?: number;
}

export interface ExecuteRequest extends Options {
  code: string;
}

export interface TraceInput {
  trace_id: string;
  /** The trace object handed to the eval function. */
  data: unknown;
}

export interface EvaluateRequest extends Options {
  evalCode: string;
  functionName?: string;
  traces: TraceInput[];
  task?: Record<string, unknown>;
  taskMetadata?: Record<string, unknown>;
}

export interface ValidateRequest extends Placement {
  code: string;
  allowImports?: string[];
  functionName?: string;
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
}

export interface BatchExecutionResult {
  results: BatchTraceResult[];
  total_time_ms: number;
  summary: { passed: number; failed: number; errors: number; timeouts: number; not_run: number };
  entryPoint?: string;
  convention?: string;
  /** Present when the eval code itself failed analysis; results is then empty. */
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

export interface ErrorResponse {
  error: string;
  code:
    | "bad_request" | "unauthorized" | "not_found" | "method_not_allowed" | "payload_too_large" | "internal"
    /** 503: no LOADER binding and in-process mode not chosen; the message says how to enable either. */
    | "no_isolation";
  /** For internal errors: the id of the matching line in the Worker's log. */
  errorId?: string;
}

export interface SandboxRpc {
  execute(request: ExecuteRequest): Promise<ExecutionResult | ErrorResponse>;
  evaluate(request: EvaluateRequest): Promise<BatchExecutionResult | ErrorResponse>;
  validate(request: ValidateRequest): Promise<ValidationResult | ErrorResponse>;
}
