"""One process of the dead-peer test: joins the group; rank 1 dies at once, rank 0 runs an
expert-parallel forward and must stop with PeerLostError (exit code 3), not hang."""
import os
import sys

import torch

from torch_photonic import parallel as P


def main() -> int:
    w = P.init(timeout_s=float(os.environ.get("PEER_TIMEOUT", "5")))
    if w.rank == 1:
        os._exit(0)                       # a rank that dies without a word
    experts = torch.nn.Identity()
    ep = P.ExpertParallel(experts, P.Placement(ranks=2, layers=1, experts=4), "mlp.experts")
    try:
        ep(torch.randn(3, 8), torch.tensor([[0], [2], [3]]), torch.ones(3, 1))
    except P.PeerLostError as e:
        print(str(e), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
