"""Reading a GGUF file's header: is it a GGUF at all, and does it carry a chat template.

The llama.cpp backend checks both before it loads a model: a file that is not a GGUF gets a
one-line error instead of an engine crash, and ``tokenizer.chat_template`` in the metadata says
whether chat prompts are rendered with the model's own template (GPO_REFERENCE 3.3).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from gpo.errors import BackendError

MAGIC = b"GGUF"
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


def _read(f: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError("truncated GGUF header")
    return struct.unpack("<" + fmt, data)[0]


def _string(f: BinaryIO) -> bytes:
    length = int(_read(f, "Q"))
    data = f.read(length)
    if len(data) != length:
        raise EOFError("truncated GGUF string")
    return data


def _skip_value(f: BinaryIO, kind: int) -> None:
    if kind == _STRING:
        f.seek(int(_read(f, "Q")), 1)
    elif kind == _ARRAY:
        item, count = int(_read(f, "I")), int(_read(f, "Q"))
        if item in _SCALARS:
            f.seek(struct.calcsize("<" + _SCALARS[item]) * count, 1)
        else:
            for _ in range(count):
                _skip_value(f, item)
    elif kind in _SCALARS:
        f.seek(struct.calcsize("<" + _SCALARS[kind]), 1)
    else:
        raise ValueError(f"unknown GGUF value type {kind}")


def metadata_keys(path: Path) -> dict[str, str | None]:
    """The GGUF's metadata keys, with the value of string entries (others map to None).

    Raises BackendError when the file is not a GGUF (wrong magic or a broken header)."""
    return {k: v if isinstance(v, str) else None for k, v in _metadata(path).items()}


def metadata_values(path: Path) -> dict[str, str | int | float | bool | None]:
    """The GGUF's metadata: strings and scalars with their values, arrays as None."""
    return _metadata(path)


def _metadata(path: Path) -> dict[str, str | int | float | bool | None]:
    try:
        with open(path, "rb") as f:
            if f.read(4) != MAGIC:
                raise BackendError(f"{path} is not a GGUF file; pass a .gguf model file")
            _read(f, "I")  # version
            _read(f, "Q")  # tensor count
            out: dict[str, str | int | float | bool | None] = {}
            for _ in range(int(_read(f, "Q"))):
                key = _string(f).decode("utf-8", "replace")
                kind = int(_read(f, "I"))
                if kind == _STRING:
                    out[key] = _string(f).decode("utf-8", "replace")
                elif kind in _SCALARS:
                    out[key] = _read(f, _SCALARS[kind])
                else:
                    out[key] = None
                    _skip_value(f, kind)
            return out
    except (EOFError, ValueError, struct.error) as exc:
        raise BackendError(f"{path} is not a readable GGUF file ({exc}); re-download it") from exc


def kv_bytes_per_token(path: Path, bytes_per_value: int = 4) -> int:
    """Bytes of KV cache one token takes (keys and values of every layer) at ``bytes_per_value``
    (4: f32), from the GGUF's architecture keys; BackendError when they are missing."""
    values = metadata_values(path)
    arch = values.get("general.architecture")
    layers = values.get(f"{arch}.block_count")
    heads = values.get(f"{arch}.attention.head_count")
    kv_heads = values.get(f"{arch}.attention.head_count_kv") or heads
    width = values.get(f"{arch}.embedding_length")
    if not all(isinstance(v, int) and v > 0 for v in (layers, heads, kv_heads, width)):
        raise BackendError(f"{path} does not give its layer and head counts ({arch})")
    key = values.get(f"{arch}.attention.key_length") or int(width) // int(heads)
    value = values.get(f"{arch}.attention.value_length") or key
    return int(layers) * int(kv_heads) * (int(key) + int(value)) * bytes_per_value


def context_length(path: Path) -> int | None:
    """The context length the model was trained with (``<arch>.context_length``), if given."""
    values = metadata_values(path)
    found = values.get(f"{values.get('general.architecture')}.context_length")
    return int(found) if isinstance(found, int) else None


def has_chat_template(path: Path) -> bool:
    """Whether the GGUF carries its own chat template."""
    return bool(metadata_keys(path).get(CHAT_TEMPLATE_KEY))
