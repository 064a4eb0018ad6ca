"""Test helper: run a real OpenAI-compatible llama.cpp server (xllamacpp's HTTP server,
``python -m gpo.llm.llamacpp_http``).

Usage from a test module::

    from servers import llama_server  # noqa: F401  (a module-scoped pytest fixture)

    def test_x(llama_server):
        url = llama_server.base_url  # http://127.0.0.1:<port>/v1

or ``with start_llama_server(gguf) as server: ...``. The server listens on 127.0.0.1 on a free
port, is started once per test module and stopped by its PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LlamaServer:
    """A running server: its base URL (for the openai client), PID and log file."""

    base_url: str
    pid: int
    model_path: str
    log_path: Path


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/models", timeout=2) as response:
            return response.status == 200 and "data" in json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop_server(pid: int, timeout: float = 15.0) -> None:
    """Stop the server process by PID (SIGTERM, then SIGKILL after ``timeout``)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@contextlib.contextmanager
def start_llama_server(
    model_path: str | Path,
    n_threads: int = 2,
    n_ctx: int = 2048,
    timeout: float = 120.0,
    prompt_cache: bool = True,
) -> Iterator[LlamaServer]:
    """Start xllamacpp's server (``gpo.llm.llamacpp_http``) on a free local port; stop it on
    exit."""
    port = free_port()
    fd, log_name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
    command = [
        sys.executable, "-m", "gpo.llm.llamacpp_http",
        "--model", str(model_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", str(n_threads),
        "--n_ctx", str(n_ctx),
    ]  # fmt: skip
    if not prompt_cache:
        command.append("--no_prompt_cache")
    with os.fdopen(fd, "wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=_env_with_this_gpo()
        )
    server = LlamaServer(
        f"http://127.0.0.1:{port}/v1", process.pid, str(model_path), Path(log_name)
    )
    try:
        _wait_until_ready(process, server, timeout)
        yield server
    finally:
        stop_server(process.pid)
        process.poll()  # lets Popen see the reaped child
        with contextlib.suppress(OSError):
            server.log_path.unlink()


def _env_with_this_gpo() -> dict[str, str]:
    """The environment with this checkout's ``src`` first on PYTHONPATH (the server's module)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else "")}


def _wait_until_ready(process: subprocess.Popen, server: LlamaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the llama.cpp server exited with {process.returncode}:\n{tail}")
        if _ready(server.base_url):
            log.info("llama.cpp server ready at %s (pid %d)", server.base_url, server.pid)
            return
        time.sleep(0.5)
    raise RuntimeError(f"llama.cpp server not ready after {timeout:.0f}s at {server.base_url}")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[LlamaServer]:
    """A llama.cpp server with the SmolLM2-135M GGUF, shared by the tests of one module."""
    from gpo.llm.smollm2 import smollm2_gguf_path

    # Without the prompt cache: llama.cpp's server keeps each slot's reply tokens as computed
    # while decoding, and a later identical prompt reuses a state that is not bit-identical to a
    # fresh prefill, so seeded samples repeated over HTTP changed (the contract's check failed
    # in CI). The embedded backend rewinds its slots (``LlamaCppBackend._rewind``); a client of
    # someone else's server cannot, so the contract runs on a server that computes every prompt.
    with start_llama_server(smollm2_gguf_path(), prompt_cache=False) as server:
        yield server
