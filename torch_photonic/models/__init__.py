"""Models to run on the emulated chip: DeepSeek-style (MLA + MoE) builders, generation helpers,
and the full DeepSeek-V3 shapes for dry runs."""
from .deepseek import (MODELS, ExpertCounter, build_deepseek, build_model, compare_generations,
                       count_parameters, expert_counts, get_model_config, greedy_generate,
                       model_names, random_prompt, teacher_forced, tiny_deepseek_config)

__all__ = ["MODELS", "ExpertCounter", "build_deepseek", "build_model", "compare_generations",
           "count_parameters", "expert_counts", "get_model_config", "greedy_generate",
           "model_names", "random_prompt", "teacher_forced", "tiny_deepseek_config"]
