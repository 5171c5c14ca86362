"""Where a model's answer comes from: the wire shapes of the backends the sandbox speaks to.

- A capability (the platform's LLM gateway Worker behind a service binding, or a calling Worker's
  own RpcTarget) has one method, `complete(request)`, given `LLMRequest.to_wire()` and answering
  with the text, or `{text, model?, tokensIn?, tokensOut?}`.
- Workers AI (the `AI` binding): `AI.run(model, {messages, temperature, max_tokens})`, answering
  `{response, usage: {prompt_tokens, completion_tokens}}`.
- An OpenAI-compatible endpoint (`POST …/chat/completions` with a bearer key), from the front Worker
  (SANDBOX_LLM_URL, the key a secret) or the CLI (`--llm-endpoint`, the key from SANDBOX_LLM_KEY).

The shapes are plain functions, shared by src/entry.py (which sends them with `fetch` and the
bindings) and the CLI (`http_backend`, with urllib). The key never leaves this layer: it is a header
of the request, never part of a message; failures are described by status and kind only (an
endpoint's error body may echo the key, or part of it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request  # imported here, not during a call: an import inside a run is the run's memory
from collections.abc import Callable, Mapping
from typing import Any

from .limits import Limits, check_json_text
from .llm import Backend, Completion, LLMFailure, LLMRequest

# An answer bigger than this is not read: completions are bounded (LLMLimits.completion_chars),
# the envelope around one is small.
MAX_ANSWER_BYTES = 1024 * 1024
KEY_VARIABLE = "SANDBOX_LLM_KEY"


def chat_url(endpoint: str) -> str:
    """The chat completions URL of an OpenAI-compatible API, from its base (…/v1) or itself."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/chat/completions") else endpoint + "/chat/completions"


def chat_messages(request: LLMRequest) -> list[dict[str, str]]:
    return [{"role": "user", "content": request.prompt}]


def openai_body(request: LLMRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": chat_messages(request),
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    if request.model is not None:
        body["model"] = request.model
    return body


def read_openai(answer: object) -> Completion:
    """`{choices: [{message: {content}}], usage: {prompt_tokens, completion_tokens}, model}`."""
    try:
        message = answer["choices"][0]["message"]  # type: ignore[index]
        text = message["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMFailure("the endpoint's answer has no choices[0].message.content") from None
    usage = _field(answer, "usage")
    return Completion(
        text, _field(answer, "model"), _field(usage, "prompt_tokens"), _field(usage, "completion_tokens")
    )


def workers_ai_input(request: LLMRequest) -> dict[str, Any]:
    return {
        "messages": chat_messages(request),
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }


def read_workers_ai(answer: object, model: str | None) -> Completion:
    """`{response, usage: {prompt_tokens, completion_tokens}}` (text generation models)."""
    text = _field(answer, "response")
    if type(text) is not str:
        raise LLMFailure("the Workers AI answer has no response text")
    usage = _field(answer, "usage")
    return Completion(text, model, _field(usage, "prompt_tokens"), _field(usage, "completion_tokens"))


def read_capability(answer: object) -> Completion:
    """What a capability's `complete` answered: the text, or `{text, model?, tokensIn?, tokensOut?}`."""
    if type(answer) is str:
        return Completion(answer)
    if not isinstance(answer, Mapping):
        raise LLMFailure(f"the capability answered with {type(answer).__name__}, not text")
    return Completion(
        answer.get("text"),  # type: ignore[arg-type]  # checked by llm.read_completion
        answer.get("model"),
        answer.get("tokensIn"),
        answer.get("tokensOut"),
    )


def _field(holder: object, name: str) -> Any:
    return holder.get(name) if isinstance(holder, Mapping) else None


def read_json(raw: bytes) -> object:
    """An endpoint's body, bounded before it is parsed (json.loads recurses in C)."""
    try:
        text = raw.decode("utf-8")
        check_json_text(Limits(), text)
        return json.loads(text)
    except ValueError:
        raise LLMFailure("the endpoint's answer is not JSON") from None


# --- the CLI's backend ----------------------------------------------------------------------------

Opener = Callable[..., Any]


def http_backend(endpoint: str, key: str | None, open_url: Opener = urllib.request.urlopen) -> Backend:
    """An OpenAI-compatible endpoint over HTTP, for the CLI (the Worker uses `fetch`: src/entry.py)."""
    url = chat_url(endpoint)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"

    def complete(request: LLMRequest) -> Completion:
        body = json.dumps(openai_body(request)).encode()
        call = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with open_url(call, timeout=request.timeout_ms / 1000) as response:
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise LLMFailure(f"the endpoint answered HTTP {error.code}") from None
        except (OSError, ValueError) as error:  # URLError, a timeout, a refused connection
            raise LLMFailure(f"the endpoint could not be reached ({type(error).__name__})") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise LLMFailure(f"the endpoint's answer exceeds {MAX_ANSWER_BYTES} bytes")
        return read_openai(read_json(raw))

    return complete
