# An LLM judge: asks the configured model to grade the agent's final answer against a rubric, over
# the trace shapes the platforms send (steps, steps with tool_name, LangGraph steps, spans).
# Run: scripts/sandbox eval examples/llm/eval_rubric.py --traces examples/traces.jsonl \
#        --llm-endpoint https://api.openai.com/v1 --llm-model gpt-4o-mini   (key in SANDBOX_LLM_KEY)
import json

RUBRIC = """You grade an AI agent's answer to a user.
Criteria: 1. it answers the question asked; 2. it uses what its tools returned, and says so when a
tool failed; 3. it invents nothing.
Reply with one line: PASS or FAIL, a colon, and one sentence of reasons."""


def conversation(trace):
    """The user's question and the agent's final answer, whatever the trace's shape."""
    question, answer = "", ""
    for step in trace.get("steps", []):
        inputs, output = step.get("input") or {}, step.get("output") or {}
        users = [m.get("content") for m in inputs.get("messages", []) if m.get("role") == "user"]
        question = inputs.get("user_message") or (users[-1] if users else "") or question
        answer = output.get("response") or output.get("content") or answer
    for span in trace.get("spans", []):
        attributes = span.get("attributes", {})
        question = attributes.get("input.value") or question
        answer = attributes.get("output.value") or answer
    return question, answer


def eval_rubric(trace, ctx):
    question, answer = conversation(trace)
    if not answer:
        return False, "no answer to grade"
    prompt = f"{RUBRIC}\n\nUser: {question}\nAgent: {answer}\nTool calls: {json.dumps(trace.get('steps', []))[:4000]}"
    reply = ctx.call_llm(prompt, temperature=0.0, max_tokens=80).strip()
    return reply.upper().startswith("PASS"), reply
