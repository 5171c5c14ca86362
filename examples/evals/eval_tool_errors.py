# An eval over the trace shapes the platforms send: did any tool call fail?
# Steps store tool calls as {name|tool_name, arguments, result, error?}; spans mark failed tools
# with status "ERROR".


def tool_calls(trace):
    for step in trace.get("steps", []):
        yield from step.get("tool_calls", [])


def eval_no_tool_errors(trace):
    failed = [call.get("name") or call.get("tool_name") for call in tool_calls(trace) if call.get("error")]
    failed += [span["name"] for span in trace.get("spans", []) if span.get("span_kind") == "TOOL" and span.get("status") == "ERROR"]
    if failed:
        return False, f"failed tool calls: {', '.join(failed)}"
    return True, "no tool call failed"
