# An eval function of the kind eval platforms run, judging one agent trace.
import json
import re

TRACE = {
    "trace_id": "tr_0001",
    "steps": [
        {"input": {"user_message": "What's the weather in Lisbon tomorrow?"},
         "tool_calls": [{"name": "weather_lookup", "arguments": {"city": "Lisbon"}}]},
        {"output": {"response": "Tomorrow in Lisbon: sunny, between 14 and 21 degrees."},
         "tool_calls": []},
    ],
}


def eval_weather_answer(trace):
    tools = [call["name"] for step in trace["steps"] for call in step["tool_calls"]]
    answer = trace["steps"][-1].get("output", {}).get("response", "")
    has_range = re.search(r"\d+ and \d+ degrees", answer) is not None
    passed = "weather_lookup" in tools and has_range
    return passed, f"tools={tools}, temperature range given: {has_range}"


passed, reason = eval_weather_answer(TRACE)
print(json.dumps({"passed": passed, "reason": reason}))
