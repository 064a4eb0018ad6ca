"""GPO.sh's choices, read from the command it builds (PYTHON=echo prints it, nothing runs)."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import REPO


def gpo_sh_command(**env: str) -> str:
    proc = subprocess.run(
        ["bash", str(REPO / "GPO.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": "echo", **env},
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("scorer", "optimizer", "embedder"),
    [
        ("smollm2-135m", "smollm2-135m", "all-minilm-l6-v2"),
        ("smollm2-135m", "qwen2.5-coder-1.5b", "all-minilm-l6-v2"),
        ("qwen2.5-coder-0.5b", "/models/my.gguf", "all-minilm-l6-v2"),
        ("llama2-chat-7b", "gpt-3.5-turbo", "BAAI/bge-base-en-v1.5"),
        ("smollm2-135m", "gpt-3.5-turbo", "BAAI/bge-base-en-v1.5"),
    ],
)
def test_offline_models_get_the_packaged_embedder(scorer, optimizer, embedder):
    command = gpo_sh_command(SCORER=scorer, OPTIMIZER=optimizer)
    assert f"--embedding_model={embedder}" in command.split()
    assert f"--optimizer_llm_name={optimizer}" in command.split()


def test_an_explicit_embedder_wins():
    command = gpo_sh_command(
        SCORER="smollm2-135m", OPTIMIZER="qwen2.5-coder-1.5b", EMBEDDING_MODEL="/my/embedder"
    )
    assert "--embedding_model=/my/embedder" in command.split()
