-- One row per request to the sandbox, and one per trace of an evaluate request.
-- Applied with `wrangler d1 migrations apply sandbox-log` (remote or --local); the CLI and the tests
-- apply the same files to a local SQLite database (src/sandbox/log.py).

CREATE TABLE executions (
    id                TEXT PRIMARY KEY,          -- request id; also the error id of an internal failure
    kind              TEXT NOT NULL,             -- execute | evaluate | validate
    caller            TEXT NOT NULL,             -- binding:<props.caller>, token:<hash prefix>, local, anonymous
    mode              TEXT NOT NULL,             -- isolate | in-process | none (validate, no loader) | cli
    code_sha256       TEXT NOT NULL,
    code_size         INTEGER NOT NULL,          -- bytes, UTF-8
    success           INTEGER NOT NULL,          -- 0 or 1
    error_type        TEXT,
    error             TEXT,
    execution_time_ms REAL NOT NULL,
    trace_count       INTEGER,                   -- evaluate only, with the counts below
    passed_count      INTEGER,
    failed_count      INTEGER,
    error_count       INTEGER,
    timeout_count     INTEGER,
    not_run_count     INTEGER,
    created_at        TEXT NOT NULL              -- ISO 8601, UTC
);

-- "Recent runs" and "runs of this code".
CREATE INDEX executions_recent ON executions (created_at DESC);
CREATE INDEX executions_by_code ON executions (code_sha256, created_at DESC);

CREATE TABLE trace_results (
    execution_id      TEXT NOT NULL REFERENCES executions (id),
    position          INTEGER NOT NULL,          -- order in the request
    trace_id          TEXT NOT NULL,
    passed            INTEGER,                   -- NULL when there is no verdict
    score             REAL,
    reason            TEXT,
    error             TEXT,
    error_type        TEXT,
    execution_time_ms REAL NOT NULL,
    PRIMARY KEY (execution_id, position)
);
