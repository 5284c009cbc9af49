# test_server.py — rtx-server against the official `openai` Python client (and
# raw HTTP from the standard library for what a client library would refuse to
# send), on 127.0.0.1 at a port the server picks itself (--port 0).
#
# Run: make test-server, or
#   RTX_SERVER=build/bin/rtx-server RTX_CLI=build/bin/rtx \
#   RTX_TEST_MODEL=.models/SmolLM2-135M-Instruct.Q4_1.gguf python3 -m pytest -q Tests/server
#
# Every wait is bounded: the servers start within STARTUP_S, HTTP calls time out
# after HTTP_S, polls of /metrics give up after POLL_S, and a test's servers are
# killed when it ends.
import asyncio
import json
import os
import re
import select
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("RTX_TEST_MODEL", REPO / ".models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
SERVER = Path(os.environ.get("RTX_SERVER", REPO / "build" / "bin" / "rtx-server"))
CLI = Path(os.environ.get("RTX_CLI", REPO / "build" / "bin" / "rtx"))
KEY = "test-key-0123456789"
STARTUP_S = 60
HTTP_S = 60
POLL_S = 20
# RSS after the 32-client run may exceed RSS after warm-up by at most this much.
# The 32 requests' KV caches alone are 32 × (prompt + 48 tokens) × 30 positions
# × 2 × 192 floats ≈ 100 MB, so a leak of them cannot hide in it; the slack is
# allocator and thread-stack growth (the caches are freed and malloc_trim'd).
RSS_TOLERANCE_MB = 24

pytestmark = pytest.mark.skipif(not (MODEL.is_file() and SERVER.is_file()),
                                reason=f"needs {MODEL} and {SERVER} (make server)")


class Server:
    """An rtx-server process; `url` once it listens."""

    def __init__(self, *args, model=MODEL):
        self.proc = subprocess.Popen([str(SERVER), "-m", str(model), "--port", "0", "-t", "2", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + STARTUP_S
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    self.url = m.group(1)
                    self.model_id = re.search(r"serving '([^']+)'", line).group(1)
                    return
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"rtx-server did not start: {line!r} {self.proc.stderr.read()[-2000:]}")

    def client(self, key=KEY, **kw):
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, timeout=HTTP_S, max_retries=0, **kw)

    def async_client(self, key=KEY):
        return openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, timeout=HTTP_S, max_retries=0)

    def raw(self, method, path, body=None, headers=None):
        """(status, headers (case-insensitive), parsed JSON or text) with the standard library."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_S) as r:
                status, hdrs, text = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, e.headers, e.read().decode()
        try:
            return status, hdrs, json.loads(text)
        except ValueError:
            return status, hdrs, text

    def metrics(self):
        """Prometheus text → {'name{labels}': value}."""
        status, _, text = self.raw("GET", "/metrics")
        assert status == 200
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kb / 1024

    def wait_idle(self):
        """Poll /metrics until no request, row or KV cache is left (bounded)."""
        deadline = time.monotonic() + POLL_S
        while time.monotonic() < deadline:
            m = self.metrics()
            if m["rtx_requests_in_flight"] == 0 and m["rtx_rows_in_flight"] == 0 and m["rtx_kv_caches"] == 0:
                return m
            time.sleep(0.1)
        raise AssertionError(f"server not idle after {POLL_S} s: {m}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture(scope="module")
def server():
    s = Server("--api-key", KEY, "--max-rows", "16", "--max-queue", "32")
    yield s
    s.stop()


def complete(client, model, prompt, **kw):
    r = client.completions.create(model=model, prompt=prompt, **kw)
    return r.choices[0].text, r.choices[0].finish_reason, r.usage


def stream_complete(client, model, prompt, **kw):
    pieces, reasons = [], []
    for chunk in client.completions.create(model=model, prompt=prompt, stream=True, **kw):
        if chunk.choices:
            pieces.append(chunk.choices[0].text)
            reasons.append(chunk.choices[0].finish_reason)
    return "".join(pieces), [r for r in reasons if r is not None]


def chat(client, model, content, stream=False, **kw):
    messages = [{"role": "user", "content": content}]
    if not stream:
        r = client.chat.completions.create(model=model, messages=messages, **kw)
        return r.choices[0].message.content, r.choices[0].finish_reason, r.usage
    pieces, reasons, roles = [], [], []
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True, **kw):
        if chunk.choices:
            d = chunk.choices[0].delta
            pieces.append(d.content or "")
            if d.role:
                roles.append(d.role)
            if chunk.choices[0].finish_reason:
                reasons.append(chunk.choices[0].finish_reason)
    assert roles == ["assistant"]
    return "".join(pieces), reasons, None


# ---------------------------------------------------------------- endpoints

def test_health_models_and_metrics(server):
    assert server.raw("GET", "/health")[0] == 200
    models = server.client().models.list()
    assert [m.id for m in models.data] == [server.model_id]
    assert server.model_id == MODEL.name.removesuffix(".gguf")
    m = server.metrics()
    for name in ["rtx_queue_depth", "rtx_rows_in_flight", "rtx_mean_loops_per_token", "rtx_prompt_tokens_total",
                 "rtx_generated_tokens_total", 'rtx_requests_total{outcome="stop"}',
                 "rtx_time_to_first_token_seconds_count", "rtx_inter_token_seconds_count", "rtx_token_exit_loops_count"]:
        assert name in m, name


def test_completions_and_chat_whole_and_streamed(server):
    c = server.client()
    text, reason, usage = complete(c, server.model_id, "The capital of France is", max_tokens=12, temperature=0)
    assert text and reason in ("stop", "length")
    assert 1 <= usage.completion_tokens <= 12 and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    streamed, reasons = stream_complete(c, server.model_id, "The capital of France is", max_tokens=12, temperature=0)
    assert streamed == text and reasons == [reason]

    text, reason, usage = chat(c, server.model_id, "Name a planet.", max_tokens=12, temperature=0)
    assert text and reason in ("stop", "length") and usage.completion_tokens <= 12
    streamed, reasons, _ = chat(c, server.model_id, "Name a planet.", stream=True, max_tokens=12, temperature=0)
    assert streamed == text and reasons == [reason]

    # stream_options.include_usage: one more chunk, without choices, with usage.
    chunks = list(c.chat.completions.create(model=server.model_id, messages=[{"role": "user", "content": "Hi"}],
                                            max_tokens=4, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens <= 4


def test_stop_strings(server):
    c = server.client()
    prompt = "Count from one to twenty in words: one, two, three,"
    full, _, _ = complete(c, server.model_id, prompt, max_tokens=24, temperature=0)
    # Stop at a word from the middle of the greedy continuation.
    words = [w for w in re.findall(r"[a-z]+", full) if full.index(w) > 0]
    assert words, full
    stop = words[len(words) // 2]
    expected = full[:full.index(stop)]
    text, reason, _ = complete(c, server.model_id, prompt, max_tokens=24, temperature=0, stop=[stop, "\u2603"])
    assert (text, reason) == (expected, "stop")
    streamed, reasons = stream_complete(c, server.model_id, prompt, max_tokens=24, temperature=0, stop=stop)
    assert (streamed, reasons) == (expected, ["stop"])


def test_same_seed_same_text(server):
    c = server.client()
    runs = [complete(c, server.model_id, "Once upon a time", max_tokens=16, temperature=1.0, seed=s)[0]
            for s in (7, 7, 8, 9)]
    assert runs[0] == runs[1]
    assert any(r != runs[0] for r in runs[2:]), runs  # the seed is used


@pytest.mark.skipif(not CLI.is_file(), reason="needs the rtx CLI (make cli)")
def test_greedy_text_equals_rtx_generate(server):
    c = server.client()
    prompt = "The three primary colors are"

    # The server's scheduler runs batch-invariant products (its default), so the CLI
    # does too: fast-mode prompts are other products on some kernel paths (AVX2's
    # float GEMM), and a near-tie may then pick another token.
    def generate(*args):
        out = subprocess.run([str(CLI), "generate", "-m", str(MODEL), "-n", "16", "--temp", "0", "-t", "2",
                              "--batch-invariant", *args],
                             capture_output=True, text=True, timeout=HTTP_S, check=True)
        return out.stdout.removesuffix("\n")

    assert prompt + complete(c, server.model_id, prompt, max_tokens=16, temperature=0)[0] == generate("-p", prompt)
    question = "Why is the sky blue?"
    assert chat(c, server.model_id, question, max_tokens=16, temperature=0)[0] == generate("--chat", "-p", question)


# ---------------------------------------------------------------- concurrency

def test_32_streams_8_disconnect(server):
    # Warm-up, then the RSS baseline.
    complete(server.client(), server.model_id, "Hello", max_tokens=4, temperature=0)
    before = server.wait_idle()
    rss_before = server.rss_mb()
    cancelled_before = before['rtx_requests_total{outcome="cancelled"}']

    async def one(i, client):
        disconnect = i % 4 == 0  # 8 of 32
        stream = await client.completions.create(
            model=server.model_id, prompt=f"Write a long story about the number {i}.", stream=True, temperature=0,
            max_tokens=48, extra_body={"ignore_eos": True})
        text, reason = "", None
        async for chunk in stream:
            text += chunk.choices[0].text
            reason = chunk.choices[0].finish_reason or reason
            if disconnect and text:
                await stream.close()  # mid-stream: 1 token of 48 received
                return None
        return text, reason

    async def run():
        client = server.async_client()
        try:
            return await asyncio.wait_for(asyncio.gather(*(one(i, client) for i in range(32))), timeout=120)
        finally:
            await client.close()

    results = asyncio.run(run())
    finished = [r for r in results if r is not None]
    assert len(finished) == 24
    assert all(reason == "length" and text for text, reason in finished)
    after = server.wait_idle()
    assert after['rtx_requests_total{outcome="cancelled"}'] - cancelled_before == 8
    assert after["rtx_queue_depth"] == 0 and after["rtx_kv_cache_bytes"] == 0
    rss_after = server.rss_mb()
    print(f"RSS after warm-up {rss_before:.1f} MB, after 32 clients {rss_after:.1f} MB")  # shown with pytest -s
    assert rss_after - rss_before <= RSS_TOLERANCE_MB, (rss_before, rss_after)
    # The latency histograms saw the tokens.
    assert after["rtx_time_to_first_token_seconds_count"] >= 32
    assert after["rtx_inter_token_seconds_count"] > before["rtx_inter_token_seconds_count"] + 24 * 40


def test_full_queue_gets_503_with_retry_after():
    s = Server("--max-rows", "1", "--max-queue", "0")
    try:
        c = s.client(key="unused")
        stream = c.completions.create(model=s.model_id, prompt="Tell me a story.", stream=True, max_tokens=64,
                                      temperature=0, extra_body={"ignore_eos": True})
        next(iter(stream))  # the one row is taken
        status, headers, body = s.raw("POST", "/v1/completions", {"model": s.model_id, "prompt": "Hi", "max_tokens": 2})
        assert status == 503 and headers["retry-after"] == "1"
        assert body["error"]["code"] == "overloaded"
        stream.close()
        s.wait_idle()
        assert complete(c, s.model_id, "Hi", max_tokens=2)[0] is not None
    finally:
        s.stop()


# ---------------------------------------------------------------- bad requests

def assert_error(status, body, want_status, param=None, code=None):
    assert status == want_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param, body
    if code is not None:
        assert body["error"]["code"] == code, body


def test_bad_requests_get_openai_errors_and_the_server_stays_up(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    post = lambda body, path="/v1/completions", headers=auth: server.raw("POST", path, body, headers)
    ok = {"model": server.model_id, "prompt": "Hi", "max_tokens": 2}

    s, _, b = post(b'{"model": "x", "prompt": ')
    assert_error(s, b, 400)
    assert "malformed JSON" in b["error"]["message"]
    assert_error(*post(b"[1, 2]")[::2], 400)
    assert_error(*post({**ok, "max_tokens": "ten"})[::2], 400, param="max_tokens")
    assert_error(*post({**ok, "max_tokens": 2.5})[::2], 400, param="max_tokens")
    assert_error(*post({**ok, "temperature": "hot"})[::2], 400, param="temperature")
    assert_error(*post({**ok, "temperature": 9})[::2], 400, param="temperature")
    assert_error(*post({**ok, "stop": 3})[::2], 400, param="stop")
    assert_error(*post({**ok, "prompt": {"text": "Hi"}})[::2], 400, param="prompt")
    assert_error(*post({"model": server.model_id, "messages": "Hi"}, "/v1/chat/completions")[::2], 400, param="messages")
    assert_error(*post({"model": server.model_id, "messages": [{"role": "robot", "content": "Hi"}]},
                       "/v1/chat/completions")[::2], 400, param="messages[0].role")
    assert_error(*post({**ok, "max_tokens": 10**9})[::2], 400, param="max_tokens", code="context_length_exceeded")
    assert_error(*post({**ok, "prompt": [10**8]})[::2], 400, param="prompt")
    assert_error(*post({**ok, "rtx_exit": {"policy": "confidence", "threshold": 2}})[::2], 400, param="rtx_exit")
    assert_error(*post({**ok, "rtx_exit": {"policy": "gate", "threshold": 0.5}})[::2], 400, param="rtx_exit")
    assert_error(*post({**ok, "rtx_exit": {"policy": "sometimes"}})[::2], 400, param="rtx_exit.policy")
    s, _, b = post({**ok, "n": 2})
    assert_error(s, b, 400, param="n")
    assert "n = 1" in b["error"]["message"]
    big = json.dumps({**ok, "prompt": "x" * (10 << 20)}).encode()
    assert_error(*post(big)[::2], 413, code="request_too_large")
    assert_error(*post({**ok, "model": "gpt-17"})[::2], 404, param="model", code="model_not_found")
    assert_error(*post(ok, headers={})[::2], 401, code="invalid_api_key")
    assert_error(*post(ok, headers={"Authorization": "Bearer wrong-key-0123456789"})[::2], 401, code="invalid_api_key")
    assert_error(*post(ok, headers={"Authorization": KEY})[::2], 401, code="invalid_api_key")
    assert_error(*server.raw("GET", "/v1/nothing-here", headers=auth)[::2], 404)

    # The official client maps them to its exception classes.
    c = server.client()
    with pytest.raises(openai.BadRequestError, match="n = 1"):
        c.completions.create(model=server.model_id, prompt="Hi", n=3)
    with pytest.raises(openai.NotFoundError):
        c.completions.create(model="no-such-model", prompt="Hi")
    with pytest.raises(openai.AuthenticationError):
        server.client(key="nope").completions.create(model=server.model_id, prompt="Hi")

    # Still serving, and every refusal was counted.
    assert server.raw("GET", "/health")[0] == 200
    assert complete(c, server.model_id, "Hi", max_tokens=2, temperature=0)[0] is not None
    m = server.metrics()
    assert m['rtx_requests_total{outcome="invalid"}'] >= 20 and m['rtx_requests_total{outcome="unauthorized"}'] >= 4


# ---------------------------------------------------------------- exits, shutdown

@pytest.mark.skipif(not CLI.is_file(), reason="needs the rtx CLI to convert a recursive model")
def test_exit_policy_per_request_on_a_recursive_model(tmp_path):
    recursive = tmp_path / "b2.gguf"
    subprocess.run([str(CLI), "convert", str(MODEL), "-o", str(recursive), "--loops", "2", "--lora-rank", "0",
                    "--shared-type", "q8_0"], check=True, capture_output=True, timeout=120)
    s = Server(model=recursive)
    try:
        c = s.client(key="unused")

        def histogram(exit_field):
            extra = {"rtx_exit": exit_field} if exit_field else {}
            r = c.completions.create(model=s.model_id, prompt="Hello", max_tokens=6, temperature=0,
                                     extra_body={"ignore_eos": True, **extra})
            return r.usage.model_extra["rtx_exit_histogram"]

        assert histogram(None) == [0, 6]                                    # --exit full
        # The first token comes out of the prompt's pass, which runs every loop.
        assert histogram({"policy": "fixed", "loops": 1}) == [5, 1]
        assert sum(histogram({"policy": "confidence", "threshold": 0.01})) == 6
        m = s.metrics()
        assert m['rtx_token_exit_loops_bucket{le="1.0"}'] >= 5
        assert m['rtx_token_exit_loops_bucket{le="2.0"}'] == m["rtx_token_exit_loops_count"] == 18
        assert 1 < m["rtx_mean_loops_per_token"] < 2
    finally:
        s.stop()


def test_sigterm_drains_and_exits_zero():
    s = Server("--shutdown-timeout", "3")
    try:
        c = s.client(key="unused")
        stream = c.completions.create(model=s.model_id, prompt="Tell me a story.", stream=True, max_tokens=2000,
                                      temperature=0, extra_body={"ignore_eos": True})
        chunks = iter(stream)
        next(chunks)
        s.proc.send_signal(signal.SIGTERM)
        # The request in flight outlives the deadline: it is cancelled, its stream ends cleanly.
        reasons = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        assert reasons == ["cancelled"]
        assert s.proc.wait(timeout=20) == 0
    finally:
        s.stop()
