"""Serve a GGUF over HTTP with xllamacpp: an OpenAI-compatible server for tests and benchmarks.

``python -m gpo.llm.llamacpp_http --model M.gguf --port P`` starts llama.cpp's own server (the
one the llamacpp backend embeds) on 127.0.0.1, prints ``ready <address>`` once it listens, and
serves until SIGTERM or SIGINT. The OpenAI-compatible routes are under ``/v1`` (``/v1/models``,
``/v1/chat/completions``, ``/v1/completions``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from gpo.llm.llamacpp_engine import EngineSettings, check_gguf, common_params

log = logging.getLogger(__name__)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .gguf file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n_threads", type=int, default=1)
    parser.add_argument("--n_ctx", type=int, default=2048)
    parser.add_argument("--n_parallel", type=int, default=4)
    parser.add_argument("--alias", default=None, help="the model id /v1/models reports")
    parser.add_argument(
        "--no_prompt_cache",
        dest="prompt_cache",
        action="store_false",
        help="compute every prompt in full (default: reuse the slots' cached prompts)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    import xllamacpp

    args = _arguments(argv)
    check_gguf(Path(args.model))
    settings = EngineSettings(
        args.model,
        args.n_ctx,
        args.n_threads,
        args.n_threads,
        args.n_parallel,
        prompt_cache=args.prompt_cache,
    )
    params = common_params(settings)
    params.hostnames = [args.host]
    params.port = args.port
    if args.alias:
        params.model_alias = {args.alias}
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    print(f"ready {server.listening_address}", flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()
