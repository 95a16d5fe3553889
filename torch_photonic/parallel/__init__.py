"""Multi-chip emulation on ``torch.distributed``: a system's chips spread over processes.

* :mod:`.group`: the process group (gloo on CPU, NCCL on GPUs) from ``torchrun``'s environment,
  with a timeout on every collective, so a rank that dies makes the others stop with a clear
  error instead of hanging.
* :mod:`.placement`: which rank owns which layer (a pipeline: contiguous blocks of layers) and
  which routed expert (expert parallelism: contiguous blocks of experts).
* :mod:`.expert_parallel`: DeepSeek-style expert parallelism: routed tokens go to the rank that
  owns their expert (``all_to_all``) and come back weighted (``all_to_all``).
* :mod:`.metering`: each rank meters the chips it owns; the hops between ranks are charged with
  the interconnect model; the meters merge on rank 0.

How the emulation runs: every rank holds the whole model and computes the layers outside the
routed experts on the same tokens (what a data-parallel attention does with one request); only
the owner of a layer meters it, and a hidden state crossing from one owner to the next is
charged as a transfer. Routed experts run only on their owner, on the tokens sent to it.
"""
from .group import PeerLostError, init, shutdown, world
from .placement import Placement, place_model
from .expert_parallel import ExpertParallel, install_expert_parallel
from .metering import RankMeter, merged_meter

__all__ = ["PeerLostError", "init", "shutdown", "world", "Placement", "place_model",
           "ExpertParallel", "install_expert_parallel", "RankMeter", "merged_meter"]
