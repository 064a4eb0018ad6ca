"""OpenAI-compatible backend (GPO_REFERENCE 6, 10.7, 10.21).

Retry logic runs against a tiny stdlib HTTP server on 127.0.0.1 that plays scripted replies; the
backend contract runs for real against xllamacpp's HTTP server (``gpo.llm.llamacpp_http``) with
SmolLM2-135M.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backend_contract import check_chat_and_raw, run_all_checks
from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import ChatMessage, GenerationParams, user_message
from gpo.llm.openai_backend import OpenAIBackend
from gpo.llm.options import BackendOptions
from helpers import greedy
from servers import LlamaServer, free_port, llama_server  # noqa: F401 (fixture)

CHAT_SPEC = ModelSpec("test-chat", "openai", "test-model", True, False)
RAW_SPEC = ModelSpec("test-raw", "openai", "test-model", False, False)
PARAMS = greedy(max_tokens=16)


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP reply."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request the fake server received."""

    path: str
    authorization: str
    body: dict[str, Any]


def _error(status: int, message: str, code: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "error", "code": code}})


def _echo_text(body: dict[str, Any]) -> str:
    source = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    return f"echo:{source}|seed={body.get('seed')}|n={body.get('n')}"


def _success(path: str, body: dict[str, Any]) -> dict[str, Any]:
    text = _echo_text(body)
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    if path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        kind = "text_completion"
    return {
        "id": "x",
        "object": kind,
        "created": 0,
        "model": body["model"],
        "choices": [choice],
        "usage": usage,
    }


class FakeServer:
    """Answers scripted replies first, then successful echoes (after a per-prompt delay)."""

    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (stdlib name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.seen.append(Seen(self.path, self.headers["Authorization"], body))
                    reply = server.script.pop(0) if server.script else None
                if reply is None:
                    time.sleep((zlib.crc32(_echo_text(body).encode()) % 5) / 100)
                    reply = Reply(200, _success(self.path, body))
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    def __enter__(self) -> FakeServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _backend(
    url: str,
    sleeps: list[float],
    keys: tuple[str, ...] = ("sk-test-1",),
    spec: ModelSpec = CHAT_SPEC,
    max_retries: int = 6,
    max_concurrency: int = 8,
) -> OpenAIBackend:
    options = BackendOptions(
        n_threads=1,
        openai_base_url=url,
        openai_api_keys=keys,
        max_retries=max_retries,
        max_concurrency=max_concurrency,
    )
    return OpenAIBackend(spec, options, sleep=sleeps.append)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_then_succeeds(sleeps: list[float], status: int) -> None:
    script = [Reply(status, {"error": {"message": "slow down"}}, {"Retry-After": "2"})]
    with FakeServer(script) as server:
        (out,) = _backend(server.url, sleeps).generate([user_message("hi")], PARAMS)
    assert out.text == "echo:hi|seed=0|n=1"
    assert (out.prompt_tokens, out.completion_tokens) == (5, 3)
    assert len(server.seen) == 2 and len(sleeps) == 1 and sleeps[0] >= 2.0


def test_server_errors_are_retried_with_growing_backoff(sleeps: list[float]) -> None:
    script = [_error(500, "boom"), _error(502, "bad gateway"), _error(500, "boom")]
    with FakeServer(script) as server:
        (out,) = _backend(server.url, sleeps).generate(["hello"], PARAMS)
    assert out.text.startswith("echo:hello")
    assert len(server.seen) == 4 and len(sleeps) == 3
    assert 0 < sleeps[0] < sleeps[2]  # 0.5*[0.5,1.5) vs 2*[0.5,1.5)


def test_authentication_error_is_not_retried_and_hides_the_key(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-very-secret-key-123"
    script = [_error(401, f"Incorrect API key provided: {key}", "invalid_api_key")]
    caplog.set_level(logging.DEBUG)
    with FakeServer(script) as server:
        backend = _backend(server.url, sleeps, keys=(key,))
        with pytest.raises(BackendError) as info:
            backend.generate([user_message("hi")], PARAMS)
    message = str(info.value)
    assert message.startswith("authentication failed at " + server.url)
    assert "OPENAI_API_KEY" in message and "--openai_api_key" in message
    assert len(server.seen) == 1 and sleeps == []
    assert server.seen[0].authorization == f"Bearer {key}"
    assert key not in message and key not in repr(backend) and key not in caplog.text


@pytest.mark.parametrize(("status", "words"), [(400, "invalid request"), (404, "not found")])
def test_invalid_requests_are_not_retried(sleeps: list[float], status: int, words: str) -> None:
    reply = _error(status, "bad field; key sk-test-1 echoed\nsecond line")
    with FakeServer([reply]) as server, pytest.raises(BackendError, match=words) as info:
        _backend(server.url, sleeps).generate(["x"], PARAMS)
    assert len(server.seen) == 1 and sleeps == []
    assert "sk-test-1" not in str(info.value) and "\n" not in str(info.value)


def test_retries_are_bounded(sleeps: list[float]) -> None:
    script = [_error(503, "overloaded")] * 10
    expected = r"server error \(503\).*after 3 attempts"
    with FakeServer(script) as server, pytest.raises(BackendError, match=expected):
        _backend(server.url, sleeps, max_retries=2).generate(["x"], PARAMS)
    assert len(server.seen) == 3 and len(sleeps) == 2


def test_closed_port_says_server_not_running(sleeps: list[float]) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match="cannot reach .*is the server running"):
        _backend(url, sleeps, max_retries=2).generate(["x"], PARAMS)
    assert len(sleeps) == 2


def test_rate_limit_rotates_to_the_next_key(sleeps: list[float]) -> None:
    script = [_error(429, "limit"), _error(429, "limit")]
    with FakeServer(script) as server:
        _backend(server.url, sleeps, keys=("sk-a", "sk-b")).generate(["x"], PARAMS)
    assert [s.authorization for s in server.seen] == ["Bearer sk-a", "Bearer sk-b", "Bearer sk-a"]


def test_missing_key_for_openai_itself_names_the_fix() -> None:
    with pytest.raises(BackendError, match="OPENAI_API_KEY.*--openai_api_key"):
        OpenAIBackend(CHAT_SPEC, BackendOptions(n_threads=1))


def test_local_server_needs_no_key(sleeps: list[float]) -> None:
    with FakeServer([]) as server:
        _backend(server.url, sleeps, keys=()).generate(["x"], PARAMS)
    assert server.seen[0].authorization.startswith("Bearer ")


def test_samples_are_separate_requests_with_per_sample_seeds(sleeps: list[float]) -> None:
    params = GenerationParams(temperature=1.0, max_tokens=16, seed=40)
    with FakeServer([]) as server:
        out = _backend(server.url, sleeps).generate([user_message("p")] * 3, params)
    assert [c.text for c in out] == [f"echo:p|seed={40 + i}|n=1" for i in range(3)]
    bodies = sorted(server.seen, key=lambda s: s.body["seed"])
    assert [b.body["seed"] for b in bodies] == [40, 41, 42]
    assert all(b.body["n"] == 1 and b.body["temperature"] == 1.0 for b in bodies)
    assert all(b.body["model"] == "test-model" and b.body["max_tokens"] == 16 for b in bodies)


def test_concurrent_batch_keeps_prompt_order(sleeps: list[float]) -> None:
    prompts = [user_message(f"question {i}") for i in range(20)]
    with FakeServer([]) as server:
        out = _backend(server.url, sleeps, max_concurrency=6).generate(prompts, PARAMS)
    assert [c.text for c in out] == [f"echo:question {i}|seed=0|n=1" for i in range(20)]


def test_raw_strings_use_completions_only_for_non_chat_models(sleeps: list[float]) -> None:
    conversation = (
        ChatMessage("user", "a"),
        ChatMessage("assistant", "b"),
        ChatMessage("user", "c"),
    )
    with FakeServer([]) as server:
        _backend(server.url, sleeps, spec=RAW_SPEC).generate(["raw", conversation], PARAMS)
        _backend(server.url, sleeps).generate(["raw"], PARAMS)
    raw_model, chat_model = server.seen[:2], server.seen[2]  # the first batch is concurrent
    completion = next(s for s in raw_model if s.path == "/v1/completions")
    chat = next(s for s in raw_model if s.path == "/v1/chat/completions")
    assert completion.body["prompt"] == "raw"
    assert [m["role"] for m in chat.body["messages"]] == ["user", "assistant", "user"]
    assert chat_model.path == "/v1/chat/completions"
    assert chat_model.body["messages"] == [{"role": "user", "content": "raw"}]


# ---- real: the contract against llama.cpp's OpenAI-compatible server -----------------------


@pytest.fixture(scope="module")
def served(llama_server: LlamaServer) -> Iterator[tuple[OpenAIBackend, OpenAIBackend]]:  # noqa: F811
    options = BackendOptions(n_threads=1, openai_base_url=llama_server.base_url, max_retries=1)
    raw = OpenAIBackend(ModelSpec("smollm2-served", "openai", "smollm2", False, False), options)
    chat = OpenAIBackend(ModelSpec("smollm2-served", "openai", "smollm2", True, False), options)
    yield raw, chat
    raw.close()
    chat.close()


@pytest.mark.real
@pytest.mark.timeout(600)
def test_contract_on_llama_cpp_server(served: tuple[OpenAIBackend, OpenAIBackend]) -> None:
    raw, _ = served
    run_all_checks(raw)


@pytest.mark.real
@pytest.mark.timeout(300)
def test_chat_model_wraps_raw_strings_in_a_chat_turn(
    served: tuple[OpenAIBackend, OpenAIBackend],
) -> None:
    _, chat = served
    check_chat_and_raw(chat, raw_is_templated=True)


@pytest.mark.real
@pytest.mark.timeout(300)
def test_api_scorer_few_shot_gets_the_plain_string_and_first_line_cut(
    served: tuple[OpenAIBackend, OpenAIBackend], data_dir
) -> None:
    # An API chat scorer (no second round, as GPT scorers) in few-shot mode: the original's
    # non-chat few-shot string (Q_begin allowed) as one user message, the answer cut to its
    # first line after stripping ":" and whitespace.
    from gpo.data.registry import get_benchmark
    from gpo.evaluation.grading import grade
    from gpo.evaluation.scorer import Scorer, ScorerSettings

    _, chat = served
    bench = get_benchmark("bbh")
    task = bench.load("navigate", data_dir, 2)
    settings = ScorerSettings(
        instruction_pos="Q_begin",
        few_shot=True,
        few_shot_number=1,
        second_round=False,
        chat_few_shot=False,
        max_tokens=16,
    )
    report = Scorer(chat, bench, settings).score("Answer Yes or No.", task, "eval")
    demo = task.few_shot[0]
    for row, example in zip(report.rows, task.eval):
        assert row.raw_prompt == (
            f"Answer Yes or No.\n{demo.question}\n{demo.answer}\n\n"
            f"Answer Yes or No.\n{example.question}"
        )
        assert row.raw_prompt_second_round is None
        first_line = row.raw_answer.strip().strip(":").strip().split("\n")[0]
        assert row.parsed_answer == grade(task.spec, first_line, example.answer).parsed_answer
