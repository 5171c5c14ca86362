-- What the ctx.call_llm calls of an evaluate request used (issue 22): totals per request, as the
-- front Worker counted them (llm_source says where the model came from: caller, gateway, ai, openai,
-- cli), per trace as the engine reported them, and one row per call. The prompt and the completion
-- are written only when the operator keeps them (SANDBOX_LOG_TEXT "llm"); a call's error only with
-- "errors" (it may quote the model name the script chose).

ALTER TABLE executions ADD COLUMN llm_source TEXT;
ALTER TABLE executions ADD COLUMN llm_calls INTEGER;
ALTER TABLE executions ADD COLUMN llm_tokens_in INTEGER;
ALTER TABLE executions ADD COLUMN llm_tokens_out INTEGER;
ALTER TABLE executions ADD COLUMN llm_time_ms REAL;
ALTER TABLE executions ADD COLUMN llm_models TEXT;          -- comma-separated, in the order first used

ALTER TABLE trace_results ADD COLUMN llm_calls INTEGER;
ALTER TABLE trace_results ADD COLUMN llm_tokens_in INTEGER;
ALTER TABLE trace_results ADD COLUMN llm_tokens_out INTEGER;
ALTER TABLE trace_results ADD COLUMN llm_time_ms REAL;
ALTER TABLE trace_results ADD COLUMN llm_models TEXT;

CREATE TABLE llm_calls (
    execution_id      TEXT NOT NULL REFERENCES executions (id),
    position          INTEGER NOT NULL,          -- order of the call in the request
    trace_id          TEXT,                      -- the trace that made it, as the engine said
    model             TEXT,
    tokens_in         INTEGER NOT NULL,
    tokens_out        INTEGER NOT NULL,
    time_ms           REAL NOT NULL,
    error             TEXT,                      -- kept with SANDBOX_LOG_TEXT "errors"
    prompt            TEXT,                      -- kept with SANDBOX_LOG_TEXT "llm"
    completion        TEXT,                      -- kept with SANDBOX_LOG_TEXT "llm"
    PRIMARY KEY (execution_id, position)
);
