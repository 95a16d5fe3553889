"""Models to run on the emulated chip: DeepSeek-style (MLA + MoE) builders, generation helpers,
the full DeepSeek-V3 shapes for dry runs, and a tiny DeepSeek-V3 with trained weights that ships
with the package (:func:`load_deepseek_tiny`)."""
from .deepseek import (MODELS, ExpertCounter, build_deepseek, build_model, compare_generations,
                       count_parameters, expert_counts, get_model_config, greedy_generate,
                       model_names, random_prompt, teacher_forced, tiny_deepseek_config)
from .deepseek_tiny import load_deepseek_tiny
from ..energy.workload import register_model as _register

for _name in MODELS:
    _register(_name, lambda _n=_name: build_deepseek(_n, device="meta"))

__all__ = ["MODELS", "ExpertCounter", "build_deepseek", "build_model", "compare_generations",
           "count_parameters", "expert_counts", "get_model_config", "greedy_generate",
           "model_names", "random_prompt", "teacher_forced", "tiny_deepseek_config",
           "load_deepseek_tiny"]
