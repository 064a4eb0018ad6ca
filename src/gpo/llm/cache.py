"""The persistent response cache around any LLM backend.

GPO re-scores the same instructions on the same examples many times (the initial prompt, prompts
proposed twice, resumed runs), and the scorer runs greedily, so its replies can be reused. This
module keeps every reply in one SQLite file keyed by what determines the reply:

* the backend and the model identity (alias, resolved path or API model id, chat rendering),
  and the engine where a backend names one (``llm.engine``, e.g. "xllamacpp 2026.10.11549"):
  a new engine version gives new keys, so replies of another engine are simply missed;
* the full prompt (a string, or the list of chat messages);
* max_tokens and temperature; for sampled calls (temperature > 0) also the seed and the sample
  index, so the N independent samples of one optimizer step are N distinct entries. Greedy
  replies do not depend on the seed, so it is left out of their key.

API keys and base URLs (which may carry credentials) never enter a key or the file.

``CachedLLM`` wraps an LLM: it answers hits from the file, sends the misses in one ``generate``
call, and sends identical requests of one batch only once (also without a cache, ``--no_cache``).
A returned Completion has ``cached=True`` when it cost no model call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

try:  # POSIX; elsewhere (Windows) cache parts go unguarded: one driver per cache folder
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from gpo.errors import ConfigError
from gpo.llm.base import (
    LLM,
    Completion,
    GenerationParams,
    Prompt,
    batch_sample_indices,
    concurrency,
)

log = logging.getLogger(__name__)

KEY_VERSION = 1
_BUSY_TIMEOUT_MS = 60_000
_CHUNK = 500  # keys per SELECT, well under SQLite's bound-variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class ModelIdentity:
    """What names the model in a cache key. Never holds credentials."""

    backend: str
    alias: str  # the name the user gave (alias or path)
    resolved: str  # the resolved file path or API model id
    is_chat: bool
    engine: str = ""  # the inference engine and its version, where the backend names one


def model_identity(llm: LLM) -> ModelIdentity:
    """The identity of ``llm``; a backend may expose ``model_id`` (resolved path or API id)."""
    resolved = getattr(llm, "model_id", None) or llm.name
    engine = str(getattr(llm, "engine", "") or "")
    return ModelIdentity(llm.backend, llm.name, str(resolved), bool(llm.is_chat), engine)


def _prompt_json(prompt: Prompt) -> str | list[dict[str, str]]:
    if isinstance(prompt, str):
        return prompt
    return [{"role": m.role, "content": m.content} for m in prompt]


def cache_key(
    identity: ModelIdentity, prompt: Prompt, params: GenerationParams, sample_index: int
) -> str:
    """sha256 hex digest of the canonical JSON of everything that determines the reply."""
    sampled = params.temperature > 0
    payload = {
        "v": KEY_VERSION,
        "backend": identity.backend,
        "model": {"alias": identity.alias, "resolved": identity.resolved, "chat": identity.is_chat},
        "prompt": _prompt_json(prompt),
        "params": {
            "temperature": float(params.temperature),
            "max_tokens": int(params.max_tokens),
            "seed": int(params.seed) if sampled else None,
        },
        "sample": int(sample_index) if sampled else None,
    }
    if identity.engine:  # absent for backends without one, so their keys stay as they were
        payload["engine"] = identity.engine
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """A thread-safe key -> Completion store in one SQLite file (WAL mode, one connection per
    thread, busy timeout). Several threads and processes of one machine may share the file.

    ``read_only=True`` opens an existing file as immutable (no locks, no writes): the way Ray
    workers read the shared cache, which only the driver writes, and only while no worker runs.
    ``journal_mode="DELETE"`` (a worker's own part file) avoids WAL's shared-memory file, which
    does not work on a network filesystem.
    """

    def __init__(self, path: Path, read_only: bool = False, journal_mode: str = "WAL") -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.journal_mode = journal_mode
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        try:
            if read_only:
                self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            with conn:
                conn.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(
                f"cannot open the response cache {self.path} ({exc}); "
                "delete the file, choose another --cache_path, or pass --no_cache"
            ) from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None and self.read_only:
            uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        elif conn is None:
            conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA journal_mode={self.journal_mode}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        """The stored completions among ``keys`` (missing keys are absent), marked cached."""
        found: dict[str, Completion] = {}
        unique = list(dict.fromkeys(keys))
        conn = self._conn()
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT key, text, prompt_tokens, completion_tokens FROM responses "
                f"WHERE key IN ({marks})",
                chunk,
            ).fetchall()
            for key, text, ptoks, ctoks in rows:
                found[key] = Completion(text, ptoks, ctoks, cached=True)
        return found

    def get(self, key: str) -> Completion | None:
        return self.get_many([key]).get(key)

    def put_many(
        self, items: Sequence[tuple[str, Completion]], identity: ModelIdentity | None = None
    ) -> None:
        """Store entries in one transaction; an existing key keeps its first value."""
        backend = identity.backend if identity else ""
        model = identity.alias if identity else ""
        now = time.time()
        rows = [
            (k, c.text, c.prompt_tokens, c.completion_tokens, backend, model, now) for k, c in items
        ]
        conn = self._conn()
        with conn:  # one atomic transaction
            conn.executemany(
                "INSERT OR IGNORE INTO responses "
                "(key, text, prompt_tokens, completion_tokens, backend, model, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def merge_from(self, part: Path) -> int:
        """Copy every entry of another cache file into this one (existing keys keep their
        value); returns how many entries were new."""
        conn = self._conn()
        before = len(self)
        conn.execute("ATTACH DATABASE ? AS part", (str(part),))
        try:
            with conn:
                conn.execute(
                    "INSERT OR IGNORE INTO responses SELECT key, text, prompt_tokens, "
                    "completion_tokens, backend, model, created FROM part.responses"
                )
        finally:
            conn.execute("DETACH DATABASE part")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # immutable readers see the main file
        return len(self) - before

    def put(self, key: str, completion: Completion, identity: ModelIdentity | None = None) -> None:
        self.put_many([(key, completion)], identity)

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close every connection (from any thread); the cache must not be used afterwards."""
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PartLock:
    """An exclusive ``flock`` on ``<part>.lock``, held by the worker that writes the part file
    for as long as it writes it. A driver merges only parts it can lock, so two runs or grids
    that share one cache folder (the default ``~/.cache/gpo``) leave each other's live parts
    alone: before, the second run's start-up merge deleted the first run's parts under its
    workers, whose later writes failed ("no such table: responses")."""

    _fd: int | None

    def __init__(self, part: Path) -> None:
        self.path = Path(f"{part}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = None
        if fcntl is None:
            return
        while True:  # a merge may delete the lock file between our open and our lock: retry
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:  # BlockingIOError is not raised without LOCK_NB
                os.close(fd)
                log.warning("cannot lock %s (%s); cache parts unguarded", self.path, exc)
                return
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self._fd = fd

    @classmethod
    def try_take(cls, part: Path) -> PartLock | None:
        """The part's lock if no live worker holds it (None if one does)."""
        lock = cls.__new__(cls)
        lock.path = Path(f"{part}.lock")
        lock._fd = None
        if fcntl is None:
            return lock
        fd = os.open(lock.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:  # no flock on this filesystem: merge as before the locks existed
            pass
        lock._fd = fd
        return lock

    def release(self, remove: bool = False) -> None:
        if self._fd is None:
            return
        if remove:  # while still held, so no worker locks a file that is about to go
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


class WorkerCache:
    """A Ray worker's view of the response cache: reads its own part file, then the shared
    file (read-only, immutable); writes only its own part file, under its ``PartLock``.

    Each part file has exactly one writer (its worker) and the shared file has one writer at a
    time (a driver, which merges the parts no worker holds into it before its workers start
    and after they stop), so no SQLite file is ever written by two machines over a network
    filesystem. Another run's driver may merge into the shared file while these workers read
    it: a read that then fails is logged and answered by the model (a miss, never another
    key's reply: rows are only ever added).
    """

    def __init__(
        self, part: ResponseCache, shared: ResponseCache | None, lock: PartLock | None = None
    ) -> None:
        self.part = part
        self.shared = shared
        self.path = part.path
        self.lock = lock

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        found = self.part.get_many(keys)
        missing = [k for k in keys if k not in found]
        if self.shared is not None and missing:
            found.update(self.shared.get_many(missing))
        return found

    def put_many(
        self, items: Sequence[tuple[str, Completion]], identity: ModelIdentity | None = None
    ) -> None:
        self.part.put_many(items, identity)

    def close(self) -> None:
        self.part.close()
        if self.shared is not None:
            self.shared.close()
        if self.lock is not None:
            self.lock.release()


def merge_cache_parts(shared: Path, parts_dir: Path, wait_seconds: float = 0.0) -> int:
    """Merge every worker part file of ``parts_dir`` that no live worker holds (see
    ``PartLock``) into the shared cache file and delete those parts (a driver does this before
    its workers start and after they stop). A part still held after ``wait_seconds`` (a
    driver's own workers may take a moment to exit; another run's live workers hold theirs
    until they finish) is left for a later merge. Returns the number of new entries."""
    pending = sorted(parts_dir.glob("*.sqlite")) if parts_dir.is_dir() else []
    if not pending:
        return 0
    added, merged = 0, 0
    deadline = time.monotonic() + wait_seconds
    with ResponseCache(shared) as cache:
        while True:
            busy = []
            for part in pending:
                lock = PartLock.try_take(part)
                if lock is None:
                    busy.append(part)
                    continue
                if not part.exists():  # another driver merged it while we waited
                    lock.release(remove=True)
                    continue
                try:
                    added += cache.merge_from(part)
                except sqlite3.Error as exc:
                    log.warning("cache part %s not merged (%s); left in place", part, exc)
                    lock.release()
                    continue
                for suffix in ("", "-journal", "-wal", "-shm"):
                    Path(f"{part}{suffix}").unlink(missing_ok=True)
                lock.release(remove=True)
                merged += 1
            pending = busy
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    log.info("merged %d cache part(s) into %s: %d new entries", merged, shared, added)
    if pending:
        log.info("%d cache part(s) in use by running workers left for a later merge", len(pending))
    return added


class CacheCounters(Protocol):
    """Where CachedLLM reports requests that cost no model call (see gpo.llm.accounting)."""

    def record_cache(self, hits: int, deduplicated: int) -> None: ...


class CachedLLM:
    """An LLM that answers from a ResponseCache and sends each distinct miss once.

    ``cache=None`` (``--no_cache``) still folds identical requests of one batch into one.
    ``cached=True`` marks every returned Completion that cost no model call: a cache hit or a
    copy of an identical request of the same batch. ``counters`` gets both counts per call.
    """

    def __init__(
        self,
        inner: LLM,
        cache: ResponseCache | WorkerCache | None,
        counters: CacheCounters | None = None,
        identity: ModelIdentity | None = None,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.counters = counters
        self.identity = identity or model_identity(inner)
        self.name = inner.name
        self.backend = inner.backend
        self.is_chat = inner.is_chat
        self.concurrency = concurrency(inner)

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        indices = batch_sample_indices(prompts, sample_indices)
        keys = [cache_key(self.identity, p, params, i) for p, i in zip(prompts, indices)]
        found = self._lookup(keys)
        misses = [n for n, k in enumerate(keys) if k not in found]
        first_of: dict[str, int] = {}
        for n in misses:
            first_of.setdefault(keys[n], n)
        fresh = self._send(prompts, params, indices, list(first_of.values()))
        fresh_by_key = {keys[n]: c for n, c in zip(first_of.values(), fresh)}
        self._store(list(fresh_by_key.items()))
        out: list[Completion] = []
        for n, key in enumerate(keys):
            if key in found:
                out.append(found[key])
            elif first_of[key] == n:
                out.append(fresh_by_key[key])
            else:  # an identical request of this batch: fanned out, no model call
                out.append(_as_cached(fresh_by_key[key]))
        if self.counters is not None:
            hits = len(prompts) - len(misses)
            self.counters.record_cache(hits=hits, deduplicated=len(misses) - len(first_of))
        return out

    def _lookup(self, keys: list[str]) -> dict[str, Completion]:
        if self.cache is None:
            return {}
        try:
            return self.cache.get_many(keys)
        except sqlite3.Error as exc:
            log.warning("response cache read failed (%s); calling the model instead", exc)
            return {}

    def _send(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        indices: list[int],
        positions: list[int],
    ) -> list[Completion]:
        if not positions:
            return []
        replies = self.inner.generate(
            [prompts[n] for n in positions], params, [indices[n] for n in positions]
        )
        if len(replies) != len(positions):
            raise RuntimeError(
                f"{self.backend} backend returned {len(replies)} replies for {len(positions)}"
            )
        return replies

    def _store(self, items: list[tuple[str, Completion]]) -> None:
        if self.cache is None or not items:
            return
        try:
            self.cache.put_many(items, self.identity)
        except sqlite3.Error as exc:
            log.warning("response cache write failed (%s); replies kept for this run only", exc)

    def close(self) -> None:
        """Close the inner LLM; the cache may be shared, so its owner closes it."""
        self.inner.close()


def _as_cached(completion: Completion) -> Completion:
    return Completion(
        completion.text, completion.prompt_tokens, completion.completion_tokens, cached=True
    )
