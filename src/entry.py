"""The Worker's entry point: the only module that knows the `workers` SDK and `js`.

Every method turns a request or an RPC call into a call into `sandbox.api` and the answer into a
Response or a plain object; log rows are written after the answer, through ctx.waitUntil. With a
LOADER binding, untrusted code runs in runner isolates started by the Worker Loader
(src/isolate_entry.py); without one, only if SANDBOX_IN_PROCESS is "true", in this interpreter.
"""

import asyncio
import functools
import json
import math
import time
from urllib.parse import parse_qsl, urlsplit

import js
import workers
from pyodide.ffi import JsProxy, create_proxy, jsnull, run_sync, to_js
from workers import Response, WorkerEntrypoint, python_to_rpc

from sandbox import api, isolate, llm, llm_backends, log
from sandbox.limits import Limits, check_json_text

# The runner's bytecode, compiled at import, which production's memory snapshot keeps: no request
# waits for it, and every runner started imports the engine without compiling it.
isolate.runner_bytecode()


class Unreadable:
    """What an RPC argument arrives as when it is not plain JSON data: the refusal to answer with,
    naming the field, made before any of the argument is used, and the value as it came (evaluate's
    second argument, an LLM capability, is a stub, never JSON data)."""

    def __init__(self, status, code, reason, value=None):
        self.status, self.code, self.reason, self.value = status, code, reason, value


class NotJson(Exception):
    def __init__(self, path, reason, status=400, code="bad_request"):
        super().__init__(f"{api.render_path(path)}: {reason}")
        self.status, self.code = status, code


def rpc_argument(value, convert=workers.python_from_rpc):
    """The runtime converts every RPC argument before a method runs, with the `python_from_rpc` it
    imports from `workers` after this module (so the one set below). A fetch's Request goes to the
    SDK; anything else must be plain JSON data, read by `plain_json`: the SDK's conversion recursed
    once per level (a trace 1,500 deep threw a traceback at the caller), and JSON.stringify, used
    before, called a `toJSON` the caller sent (a stub: a call back into the caller's Worker) and
    turned a Map or Set into {}, NaN into null, and dropped functions, all without a word. Nothing
    of reading an argument may throw at the caller: an ArrayBuffer did (a traceback with paths)."""
    try:
        if is_request(value):
            return convert(value)
        return plain_json(value)
    except NotJson as refused:
        return Unreadable(refused.status, refused.code, str(refused), value)
    except Exception as error:  # noqa: BLE001 - whatever else went wrong reading it, a refusal
        return Unreadable(
            400, "bad_request", f"(the argument): cannot be read ({type(error).__name__})", value
        )


def is_request(value):
    # By its prototype, not its `constructor.name`: a plain object can carry {name: "Request"} there.
    try:
        return isinstance(value, JsProxy) and bool(js.Request.prototype.isPrototypeOf(value))
    except Exception:  # noqa: BLE001 - a value that cannot even be asked is no Request
        return False


def plain_json(value):
    """`value` as Python data if it is plain JSON: objects (of Object's prototype or none), arrays,
    strings, finite numbers, booleans and null; a property whose value is undefined is left out, as
    JSON.stringify leaves it. Read without recursion, one level of a container at a time, within
    the API's nesting and value limits, and a batch's `traces` within its count; anything else
    raises NotJson naming the field. Nothing of the value is called: no toJSON, no getter (a value
    that crossed RPC has none)."""
    limit, nesting = api.MAX_JSON_VALUES, api.LIMITS.nesting_depth
    root = {}
    # Containers still to read: (container to fill, key in it, the value, its path as linked
    # (parent, key) pairs, depth). A container's primitive members are read with it: a pending
    # entry for each value was a third of reading a batch.
    pending = [(root, "value", value, None, 0)]
    count = 0
    while pending:
        into, key, item, path, depth = pending.pop()
        count += 1
        if count > limit:
            raise NotJson(path, f"more than {limit} JSON values", 413, "payload_too_large")
        try:
            if not is_proxy(item):
                into[key] = json_scalar(item, path)
                continue
            if depth >= nesting:
                raise NotJson(path, f"nested deeper than {nesting} levels")
            # Measured against the room left, so its members cannot take the count past the limit.
            members = json_container(item, path, limit - count)
        except NotJson:
            raise
        except Exception as error:  # noqa: BLE001 - a value Pyodide or JavaScript cannot read
            raise NotJson(
                path, f"a value that cannot be read as JSON data ({type(error).__name__})"
            ) from None
        into[key] = members
        depth += 1
        if type(members) is list:
            for index, member in enumerate(members):
                if type(member) in SCALARS:
                    count += 1
                    members[index] = json_scalar(member, (path, index))
                else:
                    pending.append((members, index, member, (path, index), depth))
            continue
        for name, member in list(members.items()):
            if member is None:
                del members[name]  # undefined: absent, as in JSON.stringify
            elif type(member) in SCALARS:
                count += 1
                members[name] = json_scalar(member, (path, name))
            else:
                pending.append((members, name, member, (path, name), depth))
    return root["value"]


# What a container's member is when Pyodide converted it (null is jsnull, undefined None); a
# JsBigInt, a container or anything odder waits its turn, and is read or refused then.
SCALARS = frozenset({str, int, float, bool, type(None), type(jsnull)})
# Whether values of a Python type are JsProxies, by type: isinstance runs Pyodide's metaclass
# check in Python (5 µs a container of a batch).
PROXY_KINDS = {}


def is_proxy(value):
    kind = type(value)
    known = PROXY_KINDS.get(kind)
    if known is None:
        known = PROXY_KINDS[kind] = isinstance(value, JsProxy)
    return known


# A batch's traces, counted before any is read: 100,000 of them took 11.8 s to convert, and held
# every other request of the front Worker meanwhile, before the API refused them.
TRACES = (None, "traces")
# JavaScript's own functions, looked up once: `js.Object.prototype.toString.call` is five lookups
# across the FFI (7 µs), the method kept one call (0.5 µs); 40,000 containers in 100 traces.
TAG_OF = js.Object.prototype.toString.call
PROTOTYPE_OF = js.Object.getPrototypeOf
IS_ARRAY = js.Array.isArray
ARRAY_PROTOTYPE = js.Array.prototype
OBJECT_PROTOTYPE = js.Object.prototype
ENTRIES = js.Object.entries
KEYS = js.Object.keys


def json_container(item, path, room):
    """One level of a JavaScript array or plain object, its members converted where they are
    primitive, containers still proxies; measured first, so that a container of millions of members
    is refused before it is converted (found by attacking the Worker layer). The kind is read from
    the value's own tag before its prototype: bringing ArrayBuffer's prototype into Python throws."""
    tag = TAG_OF(item)
    if tag == "[object Array]" and IS_ARRAY(item) and PROTOTYPE_OF(item) == ARRAY_PROTOTYPE:
        size = item.length
        if path == TRACES and size > api.LIMITS.max_traces:
            raise NotJson(
                path, f"{size} traces exceed the limit of {api.LIMITS.max_traces}", 413, "payload_too_large"
            )
        if size > room:
            raise NotJson(path, f"more than {api.MAX_JSON_VALUES} JSON values", 413, "payload_too_large")
        return item.to_py(depth=1)
    if tag == "[object Object]" and item.typeof == "object" and plain_prototype(PROTOTYPE_OF(item)):
        # Object.entries, not to_py: to_py leaves an object whose `constructor` property is not
        # Object's as a proxy.
        # Counted by its keys first: entries() makes a pair for every member, eight times the
        # memory of the keys, before a million-member object could be refused.
        if KEYS(item).length > room:
            raise NotJson(path, f"more than {api.MAX_JSON_VALUES} JSON values", 413, "payload_too_large")
        return dict(ENTRIES(item).to_py(depth=2))
    if item.typeof == "function":
        raise NotJson(path, "a function is not JSON data")
    name = getattr(getattr(item, "constructor", None), "name", None)
    kind = name if isinstance(name, str) and name else str(tag)[len("[object ") : -1]
    article = "an" if kind[:1] in "AEIOU" else "a"
    raise NotJson(path, f"{article} {kind} is not JSON data (plain objects and arrays only)")


def plain_prototype(prototype):
    return prototype is jsnull or prototype == OBJECT_PROTOTYPE


def json_scalar(item, path):
    if item is jsnull:
        return None
    if item is None:
        raise NotJson(path, "undefined is not JSON data")
    if type(item) in (str, bool, int):  # exact: a JsBigInt is an int too
        return item
    if isinstance(item, float):
        if not math.isfinite(item):
            raise NotJson(path, f"{item!r} is not a JSON number")
        # What JSON.stringify writes and json.loads reads back: integers as integers.
        return int(item) if item.is_integer() and abs(item) < 1e21 else item
    raise NotJson(path, f"a {type(item).__name__} is not JSON data")


workers.python_from_rpc = rpc_argument


class D1Database:
    """sandbox.log's Database interface over a D1 binding."""

    def __init__(self, binding):
        self.binding = binding

    def _statement(self, sql, params):
        # A Python None crosses into JavaScript as undefined, which D1 refuses to bind: use null.
        return self.binding.prepare(sql).bind(*(jsnull if value is None else value for value in params))

    async def batch(self, statements):
        await self.binding.batch([self._statement(sql, params) for sql, params in statements])

    async def query(self, sql, params=()):
        result = await self._statement(sql, params).all()
        rows = result.results
        return rows.to_py() if isinstance(rows, JsProxy) else list(rows)


def worker_code_for_js(code):
    """isolate.worker_code as the JavaScript object the loader takes. to_js turns None into
    undefined, and `globalOutbound: undefined` leaves the network open (measured on workerd): it
    must be null."""
    converted = to_js(code, dict_converter=js.Object.fromEntries)
    converted.globalOutbound = jsnull
    return converted


def runner_call(loader, worker_code=isolate.worker_code):
    """isolate.RunnerCall through the Worker Loader: a named runner by its id, which the loader may
    keep warm, or an unnamed one (`load`), which no other request reaches and which is freed after
    use. `worker_code` builds the runner for a CPU limit; the probe in tests_e2e swaps its main module."""

    async def call(kind, text, placement, gate):
        # JSON text both ways (isolate.rpc_text, isolate.handle_json); isolate.read_answer reads the
        # answer. An evaluate request's LLM gate reaches the runner as a capability for this request.
        arguments = [text]
        capability = create_proxy(capability_of(gate)) if gate is not None else None
        if capability is not None:
            arguments.append(capability)
        callback = None
        try:
            if placement.runner_id is None:
                stub = loader.load(worker_code_for_js(worker_code(placement.cpu_ms)))
            else:
                # The loader calls this only when it starts a new isolate for the id, so a warm
                # runner costs no conversion of the sources.
                callback = create_proxy(lambda: worker_code_for_js(worker_code(placement.cpu_ms)))
                stub = loader.get(placement.runner_id, callback)
            return await getattr(stub.getEntrypoint(), kind)(*arguments)
        finally:
            if callback is not None:
                callback.destroy()
            if capability is not None:
                # The request is over: a runner that kept the capability reaches nothing with it.
                capability.destroy()

    return call


# A call from a runner is JSON text of one LLMRequest, not escaped to ASCII: a prompt of at most
# LLMLimits.prompt_chars, each at most six characters of JSON (a control character's \u escape),
# and a few short fields. Anything longer is refused before it is parsed.
MAX_CAPABILITY_CALL_CHARS = 6 * llm.LLMLimits().prompt_chars + 4096


def capability_of(gate):
    """What a runner isolate is handed for one request: a function (over RPC, a stub that can be
    called and has no other member: measured on workerd, every property of it is "not implemented"),
    taking one call as JSON text and answering with JSON text. Every call passes the request's gate,
    which checks and counts it again; nothing else of this Worker is reachable through it."""

    async def complete(text):
        if not isinstance(text, str) or len(text) > MAX_CAPABILITY_CALL_CHARS:
            return json.dumps({"error": "a call to the model must be JSON text of one request"})
        try:
            check_json_text(Limits(), text)
            wire = json.loads(text)
        except ValueError:
            return json.dumps({"error": "a call to the model must be JSON text of one request"})
        return json.dumps(await gate.answer(wire))

    return complete


# --- where ctx.call_llm's model comes from ---------------------------------------------------------


def js_object(value):
    """Python data as a plain JavaScript object, None as null (to_js makes it undefined)."""
    if value is None:
        return jsnull
    if isinstance(value, dict):
        value = {key: jsnull if item is None else item for key, item in value.items()}
    return to_js(value, dict_converter=js.Object.fromEntries)


def js_answer(answer):
    """What a binding or a capability answered, as Python data: text as it is, anything else read
    as plain JSON data (entry.plain_json: bounded, nothing called)."""
    if isinstance(answer, str):
        return answer
    try:
        return plain_json(answer)
    except NotJson as refused:
        raise llm.LLMFailure(f"the answer is not JSON data ({refused})") from None


def bounded(backend):
    """A backend whose wait ends at the request's time: the gate refuses a late answer, this stops
    waiting for it."""

    async def call(request):
        return await asyncio.wait_for(backend(request), request.timeout_ms / 1000)

    return call


def capability_backend(target):
    """A capability with one method, `complete(request)`: a calling Worker's own RpcTarget, or the
    platform's LLM gateway Worker behind the LLM service binding (types/sandbox.d.ts, LlmCapability)."""

    async def complete(request):
        answer = await target.complete(js_object(request.to_wire()))
        return llm_backends.read_capability(js_answer(answer))

    return complete


def workers_ai_backend(ai):
    async def complete(request):
        if request.model is None:
            raise llm.LLMFailure("Workers AI needs a model: set SANDBOX_LLM_MODELS")
        answer = await ai.run(request.model, js_object(llm_backends.workers_ai_input(request)))
        return llm_backends.read_workers_ai(js_answer(answer), request.model)

    return complete


def openai_backend(url, key):
    """An OpenAI-compatible endpoint; the key is a secret of this Worker and goes into a header
    here, nowhere else."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}

    async def complete(request):
        init = {"method": "POST", "headers": headers, "body": json.dumps(llm_backends.openai_body(request))}
        response = await js.fetch(url, js_object(init))
        if not response.ok:
            raise llm.LLMFailure(f"the endpoint answered HTTP {response.status}")
        text = await response.text()
        if len(text) > llm_backends.MAX_ANSWER_BYTES:
            raise llm.LLMFailure(f"the endpoint's answer exceeds {llm_backends.MAX_ANSWER_BYTES} bytes")
        return llm_backends.read_openai(llm_backends.read_json(text.encode("utf-8", "surrogatepass")))

    return complete


def raw_binding(value):
    # The SDK wraps env's bindings; the wrapper converts arguments its own way (None to undefined).
    return getattr(value, "_binding", value)


def configured_backend(env):
    """The operator's model, first found: the LLM service binding (a gateway Worker), the AI
    binding (Workers AI), or SANDBOX_LLM_URL with the secret SANDBOX_LLM_KEY; else None."""
    gateway = setting(env, "LLM")
    if gateway is not None:
        return "gateway", capability_backend(raw_binding(gateway))
    ai = setting(env, "AI")
    if ai is not None:
        return "ai", workers_ai_backend(raw_binding(ai))
    url = setting(env, "SANDBOX_LLM_URL")
    if isinstance(url, str) and url:
        key = setting(env, "SANDBOX_LLM_KEY")
        return "openai", openai_backend(llm_backends.chat_url(url), key if isinstance(key, str) else "")
    return None


def llm_models(setting_value):
    """SANDBOX_LLM_MODELS: the model names a script may ask for, comma-separated; the first is the
    default. Unset: any name, and the backend's own default."""
    if not isinstance(setting_value, str):
        return ()
    return tuple(name.strip() for name in setting_value.split(",") if name.strip())


# The front's own deadline for a request's calls: the batch budget, plus what a runner's cold start
# and the margin of its CPU limit may add before its engine starts counting.
GATE_MARGIN_SECONDS = 10


def llm_gate(env, keep, capability=None):
    """The request's gate: the caller's own capability when it passed one (its keys, its models),
    else the configured backend, else None (ctx stays None)."""
    if capability is not None:
        source, backend, models = "caller", capability_backend(capability), ()
    else:
        configured = configured_backend(env)
        if configured is None:
            return None
        (source, backend), models = configured, llm_models(setting(env, "SANDBOX_LLM_MODELS"))
    deadline = time.perf_counter() + api.LIMITS.batch_timeout_ms / 1000 + GATE_MARGIN_SECONDS
    return llm.Gate(
        bounded(backend), source, models, deadline=deadline, keep_text="llm" in keep, drive=run_sync
    )


@functools.cache
def whole_number_var(name, setting, default):
    """A var that must be a whole number (SANDBOX_NAMED_RUNNERS, SANDBOX_RUNNERS_PER_CALLER), or
    `default` when unset. A setting that is not one is reported in the log, once, and the default
    used: a typo in a var must not stop every request."""
    if setting is None:
        return default
    if isinstance(setting, str) and setting.strip().isdigit():
        return int(setting)
    print(f"{name} is not a whole number: {setting!r}; using {default}")
    return default


@functools.cache
def log_text(setting):
    """SANDBOX_LOG_TEXT as the kinds of script text the log keeps; unknown words reported once."""
    kinds, unknown = log.text_kinds(setting)
    if unknown:
        print(f"SANDBOX_LOG_TEXT names no kind of text: {', '.join(unknown)}; it keeps errors, output, llm")
    return kinds


def setting(env, name):
    return getattr(env, name, None)


def executor(env):
    """Where requests run, and the name of that mode for health and the log. In-process is a
    choice, never a fallback: without a loader and without it, execute and evaluate are refused."""
    loader = setting(env, "LOADER")
    if loader is not None:
        slots = isolate.RUNNER_SLOTS
        slots.max_named = whole_number_var(
            "SANDBOX_NAMED_RUNNERS", setting(env, "SANDBOX_NAMED_RUNNERS"), isolate.MAX_NAMED_RUNNERS
        )
        slots.per_caller = whole_number_var(
            "SANDBOX_RUNNERS_PER_CALLER",
            setting(env, "SANDBOX_RUNNERS_PER_CALLER"),
            isolate.RUNNERS_PER_CALLER,
        )
        call = runner_call(loader)

        async def through_runner(kind, request, caller, gate):
            return await isolate.through_runner(call, api.check_answer, kind, request, caller, slots, gate)

        return through_runner, "isolate"
    if setting(env, "SANDBOX_IN_PROCESS") == "true":
        return api.in_process, "in-process"
    return api.without_isolation, "none"


def database(env):
    binding = setting(env, "DB")
    return D1Database(binding) if binding is not None else None


# How long a request's log write waits before it starts. Started at once, it ran before the answer
# had gone out, and the answer waited for the D1 batch: on local workerd 2 to 3 ms of a 4 ms warm
# execute over RPC (scripts/bench_worker.py; docs/benchmarks.md). Not `sleep(0)`: a timer set
# while a request runs counts from the clock as the request found it (Workers' clock stands still
# while code runs), so it must outlast a short request; a delay of 1 or 2 ms still came due first.
# A long request's write may still start before its answer; it then costs what it cost before.
LOG_DELAY_SECONDS = 0.02


async def write_later(db, entry):
    await asyncio.sleep(LOG_DELAY_SECONDS)
    return await log.write(db, entry)


def log_after_answer(env, ctx, entry):
    db = database(env)
    if entry is None or db is None:
        return
    task = asyncio.ensure_future(write_later(db, entry))
    # waitUntil takes a promise-like; the proxy lives until the write settles.
    proxy = create_proxy(task)
    task.add_done_callback(lambda _: proxy.destroy())
    ctx.waitUntil(proxy)


def body_reader(stream):
    """api.BodyReader over a request's ReadableStream: chunks until the body ends, or None as soon
    as it holds more than `limit` bytes (the rest is never read). Gathered in one bytearray: a list
    of chunks joined at the end held the body twice (a 15 MB body refused for its values grew the
    runtime by 58 MB)."""

    async def read(limit):
        if stream is None or stream is jsnull:
            return b""
        reader = stream.getReader()
        body = bytearray()
        while True:
            chunk = await reader.read()
            if chunk.done:
                return body
            if len(body) + chunk.value.byteLength > limit:
                await reader.cancel()
                return None
            body += chunk.value.to_bytes()

    return read


def caller_of(ctx, env):
    """The binding's caller from ctx.props (api.binding_caller says why props)."""
    props = getattr(ctx, "props", None)
    if isinstance(props, JsProxy):
        props = props.to_py(depth=2)
    return api.binding_caller(props, setting(env, "SANDBOX_OPERATORS"))


async def answer_rpc(entrypoint, kind, arguments):
    """One RPC call of a documented method, answered with a result or a structured refusal. The
    runtime has already converted the arguments (rpc_argument). Any number of them may arrive: a
    method declared with one parameter would throw a traceback at the caller. evaluate takes a
    second: the caller's own LLM capability."""
    env, ctx = entrypoint.env, entrypoint.ctx
    try:
        caller = caller_of(ctx, env)
    except api.RequestError as refused:
        return python_to_rpc(api.refusal(refused, kind).body)
    capability = None
    if kind == "evaluate" and len(arguments) == 2 and arguments[1] is None:
        arguments = arguments[:1]  # undefined or null: no capability, as if none were passed
    if kind == "evaluate" and len(arguments) == 2:
        capability = llm_capability(arguments[1])
        if capability is None:
            message = (
                "evaluate's second argument must be an LLM capability: an RpcTarget with a complete method"
            )
            return python_to_rpc(api.error_answer(400, "bad_request", message, kind=kind).body)
        arguments = arguments[:1]
    if len(arguments) != 1:
        message = f"{kind} takes one argument, the request object; it was given {len(arguments)}"
        return python_to_rpc(api.error_answer(400, "bad_request", message, kind=kind).body)
    if isinstance(arguments[0], Unreadable):
        refused = arguments[0]
        message = f"invalid request: {refused.reason}"
        return python_to_rpc(api.error_answer(refused.status, refused.code, message, kind=kind).body)
    run, mode = executor(env)
    keep = log_text(setting(env, "SANDBOX_LOG_TEXT"))
    gate = llm_gate(env, keep, capability) if kind == "evaluate" else None
    answer = await api.rpc(kind, arguments[0], caller, run, mode, keep, database(env), gate)
    log_after_answer(env, ctx, answer.log)
    return python_to_rpc(answer.body)


def llm_capability(argument):
    """The caller's LLM capability, as the runtime handed it to rpc_argument (not JSON data, so kept
    as it came), or None when the argument is anything else. Its `complete` is the one member used."""
    value = argument.value if isinstance(argument, Unreadable) else argument
    if not isinstance(value, JsProxy) or value.typeof not in ("object", "function"):
        return None
    return value


# The entrypoint's callable attributes a caller may reach: the runtime hands any callable attribute
# of the instance to an RPC call of that name, so `_rpc`, `_executor`, `__init__` (with a caller's
# own env), `__setattr__` and `__getattribute__` were all callable over RPC. Everything else of the
# Worker lives in this module's functions, and the instance hands out no other callable.
EXPOSED = frozenset({"fetch", *api.RPC_METHODS})


class Default(WorkerEntrypoint):
    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if callable(value) and name not in EXPOSED:
            raise AttributeError(f"{name} is not a method of the sandbox's API")
        return value

    async def fetch(self, request):
        env = self.env
        url = urlsplit(request.url)
        access = api.Access.from_env(
            setting(env, "SANDBOX_API_TOKEN"),
            setting(env, "ALLOW_UNAUTHENTICATED_HTTP"),
            setting(env, "SANDBOX_OPERATOR_TOKEN"),
        )
        headers = {name: request.headers.get(name) or "" for name in ("authorization", "content-length")}
        # The bytes as sent, read with a cap: request.text() made U+FFFD of invalid UTF-8 and ran the
        # code, and request.bytes() read a body of any size before the size was checked.
        http = api.HttpRequest(
            method=request.method,
            path=url.path,
            headers=headers,
            query=dict(parse_qsl(url.query)),
            reader=body_reader(request.js_object.body),
        )
        run, mode = executor(env)
        keep = log_text(setting(env, "SANDBOX_LOG_TEXT"))
        # The configured model only: an HTTP body carries no key and names no endpoint.
        gate = llm_gate(env, keep) if http.path.rstrip("/") == "/v1/evaluate" else None
        answer = await api.handle_http(http, access, database(env), run, mode, keep, gate)
        log_after_answer(env, self.ctx, answer.log)
        # Not escaped to ASCII: an emoji is 4 bytes of UTF-8, where its escape was 12 (a 40 KB
        # request printing emoji made a 48 MB answer).
        return Response(
            json.dumps(answer.body, ensure_ascii=False),
            status=answer.status,
            headers={"content-type": "application/json", **answer.headers},
        )

    async def execute(self, *arguments):
        return await answer_rpc(self, "execute", arguments)

    async def evaluate(self, *arguments):
        return await answer_rpc(self, "evaluate", arguments)

    async def validate(self, *arguments):
        return await answer_rpc(self, "validate", arguments)

    async def executions(self, *arguments):
        """The caller's log rows: {limit?, isolationKey?, caller? (operators)}."""
        return await answer_rpc(self, "executions", arguments)
