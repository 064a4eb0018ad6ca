"""The OpenAI-compatible HTTP backend: the optimizer LLM (GPO_REFERENCE 6) and GPT scorers (3.3).

Works with OpenAI itself or any compatible server (llama.cpp's server, vLLM's server, a proxy).
Ports the original's ``openai==0.28`` calls to the ``openai>=1.0`` client (10.21) and fixes its
retry behaviour (6, 10.7): N samples are N requests with n=1 and per-sample seeds, retries are
bounded exponential backoff in one place (``_RetryPolicy``), authentication and invalid-request
errors are never retried, and rate limits rotate through the given API keys. Keys never appear
in logs, errors or reprs.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gpo.errors import BackendError, ReplicaUnavailable
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import Completion, GenerationParams, Prompt, batch_sample_indices
from gpo.llm.fan_out import fan_out
from gpo.llm.options import BackendOptions

log = logging.getLogger(__name__)

T = TypeVar("T")
OPENAI_URL = "https://api.openai.com/v1"
_PLACEHOLDER_KEY = "sk-no-key-required"  # local servers accept any key
_BACKOFF_BASE = 0.5  # seconds before the first retry
_BACKOFF_CAP = 30.0  # longest computed backoff
_RETRY_AFTER_CAP = 120.0  # longest server-requested wait we honour


@dataclass(frozen=True)
class _Retry:
    """A retryable failure: why, how long the server asked to wait, whether to switch keys."""

    reason: str
    retry_after: float | None = None
    rotate_key: bool = False


def _retry_after_seconds(response: Any) -> float | None:
    """Seconds from the Retry-After (or retry-after-ms) header, or None."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class _MalformedReply(Exception):
    """A 200 reply whose body is not a completion object (no ``choices`` list)."""


def _completion_of(response: Any, chat: bool) -> Completion:
    """The Completion of one reply; raises _MalformedReply when the body has the wrong shape.

    An empty ``choices`` list or empty/None text is the model's answer: returned as "" (data).
    """
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise _MalformedReply(f"reply is a {type(response).__name__} without choices")
    text = None
    if choices:
        first = choices[0]
        holder = getattr(first, "message", None) if chat else first
        if chat and holder is None:
            raise _MalformedReply("reply choice without a message")
        text = getattr(holder, "content" if chat else "text", None)
    usage = getattr(response, "usage", None)
    return Completion(
        text=text if isinstance(text, str) else "",
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _one_line(text: str, secrets: Sequence[str], limit: int = 200) -> str:
    """A short single-line message with every secret masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _RetryPolicy:
    """The single place where HTTP failures are classified, waited on and retried."""

    def __init__(self, where: str, model: str, options: BackendOptions, sleep: Callable) -> None:
        self.where = where
        self.model = model
        self.max_retries = options.max_retries
        self.secrets = options.openai_api_keys
        self.sleep = sleep
        self.rng = random.Random()  # jitter only; never affects results

    def classify(self, exc: Exception) -> _Retry | BackendError:
        """A _Retry for transient failures, a BackendError for permanent ones."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return _Retry("timeout")
        if isinstance(exc, openai.APIConnectionError):
            return _Retry("connection error")
        malformed = (_MalformedReply, json.JSONDecodeError, openai.APIResponseValidationError)
        if isinstance(exc, malformed):
            # a reply body that is not the API's JSON (cut off, empty, wrong shape): a server
            # fault, retried; a well-formed reply with unusable *text* is data (scored 0)
            return _Retry("malformed reply")
        if not isinstance(exc, openai.APIStatusError):
            raise exc
        status = exc.status_code
        if status == 429:
            if getattr(exc, "code", None) == "insufficient_quota":
                return BackendError(f"quota exhausted at {self.where}: check the account's billing")
            return _Retry("rate limited (429)", _retry_after_seconds(exc.response), True)
        if status in (408, 409) or status >= 500:
            after = _retry_after_seconds(exc.response) if status == 503 else None
            return _Retry(f"server error ({status})", after)
        return self._permanent(exc, status)

    def _permanent(self, exc: Exception, status: int) -> BackendError:
        if status == 401:
            return BackendError(
                f"authentication failed at {self.where}: check --openai_api_key / OPENAI_API_KEY"
            )
        if status == 403:
            return BackendError(
                f"permission denied at {self.where} for model {self.model!r}: "
                "check the API key's access"
            )
        if status == 404:
            return BackendError(
                f"model {self.model!r} or endpoint not found at {self.where}: check the model name "
                "and --openai_base_url"
            )
        detail = _one_line(str(getattr(exc, "message", "") or exc), self.secrets)
        return BackendError(f"invalid request ({status}) to {self.where}: {detail}")

    def exhausted(self, failure: _Retry) -> ReplicaUnavailable:
        attempts = self.max_retries + 1
        if failure.reason in ("connection error", "timeout"):
            return ReplicaUnavailable(
                f"cannot reach {self.where}: is the server running? "
                f"({failure.reason} after {attempts} attempts)"
            )
        if failure.reason == "malformed reply":
            hint = "check that the server speaks the OpenAI API"
        elif failure.rotate_key:
            hint = "retry later, or add keys with --openai_api_key_list"
        else:
            hint = "check the server's log, or retry later"
        return ReplicaUnavailable(
            f"{failure.reason} at {self.where} after {attempts} attempts: {hint}"
        )

    def delay(self, attempt: int, failure: _Retry) -> float:
        """Exponential backoff with jitter, never shorter than the server's Retry-After."""
        backoff = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt)
        backoff *= 0.5 + self.rng.random()  # jitter in [0.5, 1.5)
        if failure.retry_after is not None:
            return max(backoff, min(failure.retry_after, _RETRY_AFTER_CAP))
        return backoff


class OpenAIBackend:
    """An LLM behind an OpenAI-compatible API, with bounded retries and concurrent requests."""

    backend = "openai"

    def __init__(
        self,
        spec: ModelSpec,
        options: BackendOptions,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            import openai
        except ImportError as exc:
            raise BackendError(
                "the openai backend needs the openai package: pip install openai"
            ) from exc
        keys = options.openai_api_keys
        if not keys and options.openai_base_url is None:
            raise BackendError(
                "no OpenAI API key: set OPENAI_API_KEY or pass --openai_api_key "
                "(or --openai_base_url for a local server)"
            )
        self.name = spec.alias
        self.spec = spec
        self.is_chat = True if spec.is_chat is None else spec.is_chat
        self.base_url = (options.openai_base_url or OPENAI_URL).rstrip("/")
        self._clients = [
            openai.OpenAI(
                api_key=key,
                base_url=self.base_url,
                max_retries=0,  # retries happen in _RetryPolicy only
                timeout=options.request_timeout,
            )
            for key in (keys or (_PLACEHOLDER_KEY,))
        ]
        self._key_index = 0
        self._key_lock = threading.Lock()
        self._max_concurrency = options.max_concurrency
        self._policy = _RetryPolicy(self.base_url, spec.model, options, sleep)

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(name={self.name!r}, model={self.spec.model!r}, "
            f"base_url={self.base_url!r})"
        )

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        return fan_out(
            self._generate_one,
            prompts,
            params,
            batch_sample_indices(prompts, sample_indices),
            workers=self._max_concurrency,
            desc=f"{self.name} (http)",
            thread_prefix="gpo-openai",
        )

    def generate_one(self, prompt: Prompt, params: GenerationParams, index: int) -> Completion:
        """One request (sample ``index`` of its prompt), with this backend's retries; a replica
        pool calls this per request."""
        return self._generate_one(prompt, params, index)

    def served_model_ids(self) -> list[str]:
        """The model ids the server lists at ``/models`` (sorted)."""
        return sorted(m.id for m in self._call(lambda c: list(c.models.list())))

    def _generate_one(self, prompt: Prompt, params: GenerationParams, index: int) -> Completion:
        common = {
            "model": self.spec.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "n": 1,
            "seed": params.seed + index,
        }
        if isinstance(prompt, str) and not self.is_chat:
            return self._call(
                lambda c: _completion_of(c.completions.create(prompt=prompt, **common), chat=False)
            )
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        else:
            messages = [{"role": m.role, "content": m.content} for m in prompt]
        return self._call(
            lambda c: _completion_of(c.chat.completions.create(messages=messages, **common), True)
        )

    def _call(self, request: Callable[[Any], T]) -> T:
        """Run one request (and the reading of its reply) with bounded retries; rate limits
        move on to the next key."""
        attempt = 0
        while True:
            with self._key_lock:
                key_index = self._key_index
            try:
                return request(self._clients[key_index])
            except Exception as exc:  # classified below; unknown errors re-raise
                failure = self._policy.classify(exc)
                if isinstance(failure, BackendError):
                    raise failure from None
                if attempt >= self._policy.max_retries:
                    raise self._policy.exhausted(failure) from None
                if failure.rotate_key:
                    self._rotate_key(key_index)
                wait = self._policy.delay(attempt, failure)
                log.warning(
                    "%s at %s; retry %d/%d in %.1fs",
                    failure.reason,
                    self.base_url,
                    attempt + 1,
                    self._policy.max_retries,
                    wait,
                )
                self._policy.sleep(wait)
                attempt += 1

    def _rotate_key(self, failed_index: int) -> None:
        """Move to the next key, once per failure even when several threads hit the limit."""
        with self._key_lock:
            if self._key_index == failed_index:
                self._key_index = (failed_index + 1) % len(self._clients)

    def close(self) -> None:
        for client in self._clients:
            client.close()
