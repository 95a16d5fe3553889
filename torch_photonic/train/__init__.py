"""Training on the emulated chip: a deterministic, resumable trainer and hardware-aware
fine-tuning.

* :mod:`.config`: :class:`TrainConfig`, the validated hyperparameters of a run;
* :mod:`.data`: the training-data contract and the batch of each step;
* :mod:`.losses`: language-model loss, logit distillation, hidden-state distillation;
* :mod:`.checkpoint`: atomic checkpoints and the fingerprint that ties one to its run;
* :mod:`.loop`: :func:`train`, AdamW with warmup, schedule, clipping, checkpoints and resume;
* :mod:`.finetune`: :func:`finetune`, distillation of a model into its photonic conversion;
* :mod:`.report`: the ``finetune.json`` and ``finetune.png`` a fine-tuning run writes.
"""
from .checkpoint import CheckpointMismatchError, load_checkpoint
from .config import TrainConfig
from .data import batch_at, check_data
from .finetune import FinetuneResult, finetune
from .losses import distill_kl, hidden_distill, lm_loss
from .loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train", "batch_at", "check_data", "lm_loss",
           "distill_kl", "hidden_distill", "CheckpointMismatchError", "load_checkpoint",
           "finetune", "FinetuneResult"]
