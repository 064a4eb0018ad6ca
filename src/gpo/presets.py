"""The paper's baselines (Table 5) as flag combinations of this framework (GPO_REFERENCE 1.3).

``--preset=NAME`` sets these values for every flag the user did not pass explicitly.
"""

from __future__ import annotations

from typing import Any

# Settings shared by GPO.sh and the baseline scripts.
COMMON: dict[str, Any] = {
    "num_search_epochs": 3,
    "instruction_pos": "Q_end",
    "num_generated_instructions_in_each_step": 8,
    "opt_batch_size": 8,
    "format_data_num": 3,
    "include_qa": False,
    "use_warmup_strategy": False,
    "warmup_steps": 0,
}

_NO_MOMENTUM = {
    "momentum_para_name": "-",
    "momentum_selection_name": "-",
    "momentum_selection_num": 0,
    "momentum_update_name": "-",
}
_NO_LR = {
    "learning_rate_name": "wo_lr",
    "decay_strategy": "-",
    "initial_step_size": 0,
    "final_step_size": 0,
}

GPO_PRESET = "gpo"
PRESETS: dict[str, dict[str, Any]] = {
    GPO_PRESET: {
        "gradient_name": "-",
        "momentum_para_name": "para",
        "momentum_selection_name": "relavance",
        "momentum_selection_num": 3,
        "momentum_update_name": "k-list",
        "learning_rate_name": "w_lr",
        "initial_step_size": 50,
        "decay_strategy": "consine",
        "final_step_size": 10,
        "util_gradient_name": "generate_without",
    },
    "ape": {
        "gradient_name": "-",
        **_NO_MOMENTUM,
        **_NO_LR,
        "util_gradient_name": "generate_without",
    },
    "apo": {"gradient_name": "feedback", **_NO_MOMENTUM, **_NO_LR, "util_gradient_name": "edit"},
    "opro": {
        "gradient_name": "-",
        "momentum_para_name": "para",
        "momentum_selection_name": "importance",
        "momentum_selection_num": 3,
        "momentum_update_name": "k-list",
        **_NO_LR,
        "util_gradient_name": "generate_without",
    },
    # PE2 computes the feedback gradient but the *_without builder never shows it (quirk kept).
    "pe2": {
        "gradient_name": "feedback",
        "momentum_para_name": "para",
        "momentum_selection_name": "recency",
        "momentum_selection_num": 3,
        "momentum_update_name": "k-list",
        "learning_rate_name": "w_lr",
        "decay_strategy": "fixed",
        "initial_step_size": 30,
        "final_step_size": 30,
        "util_gradient_name": "generate_without",
    },
    "sgdm": {
        "gradient_name": "feedback",
        "momentum_para_name": "feedback",
        "momentum_selection_name": "-",
        "momentum_selection_num": 0,
        "momentum_update_name": "real-time",
        **_NO_LR,
        "util_gradient_name": "edit",
    },
}

# This project's extension, not a method of the paper: GPO with its word budget enforced (a
# candidate that changes more than K words is rejected and asked again) and every candidate
# guard on (no leaked meta-prompt scaffolding, no copied eval/test answers or inputs, no copies
# of the exemplars or train inputs the meta-prompt shows, no empty or overlong prompts).
GPO_PLUS = "gpo+"
PAPER_PRESETS = tuple(PRESETS)  # the paper's methods, in Table 5's order
PRESETS[GPO_PLUS] = {
    **PRESETS["gpo"],
    "enforce_step_size": True,
    "candidate_guards": ["scaffolding", "leakage", "copied", "empty", "length"],
}


# Another optimizer beside GPO, not a flag combination of its loop: GEPA (reflective prompt
# evolution) through the ``gepa`` package (``pip install -e '.[gepa]'``; gpo.optimization.gepa).
# Its values keep GPO's sizes (epochs, N, batch), whose gpo plan gives GEPA's default budget,
# and switch the GPO components off (GEPA uses none of them; no embedder is loaded).
GEPA = "gepa"
METHOD_PRESETS: dict[str, dict[str, Any]] = {
    GEPA: {"gradient_name": "-", **_NO_MOMENTUM, **_NO_LR, "util_gradient_name": "generate_without"}
}
PRESET_CHOICES = (*PRESETS, *METHOD_PRESETS)  # every --preset / --presets name


def preset_values(name: str) -> dict[str, Any]:
    """Flag values of a preset (common settings included)."""
    return {**COMMON, **(PRESETS[name] if name in PRESETS else METHOD_PRESETS[name])}


def is_gepa(preset: str | None) -> bool:
    """Whether a run's preset selects the GEPA method instead of the GPO loop."""
    return preset == GEPA
