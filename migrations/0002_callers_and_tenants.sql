-- Who ran each request and for which tenant, so that a caller reads only its own rows (issue 18);
-- which runner isolate ran it; and the columns for script output, written only when the operator
-- chose to keep script text (SANDBOX_LOG_TEXT; README, "What is logged").

ALTER TABLE executions ADD COLUMN tenant TEXT;     -- the request's isolationKey, NULL without one
ALTER TABLE executions ADD COLUMN runner TEXT;     -- the runner isolate's id; NULL in-process or fresh
ALTER TABLE executions ADD COLUMN output TEXT;     -- stdout of an execute request, when kept
ALTER TABLE trace_results ADD COLUMN output TEXT;  -- a trace's stdout, when kept

-- "This caller's recent runs" and "this caller's runs for one tenant": the only reads a caller makes.
CREATE INDEX executions_by_caller ON executions (caller, created_at DESC);
CREATE INDEX executions_by_tenant ON executions (caller, tenant, created_at DESC);
