"""What running on the ``photonic`` device costs over running the same thing on the CPU.

    PYTHONPATH=. python bench/device_overhead.py [--blocks 15]

Everything is measured in one run, single-threaded (``torch.set_num_threads(1)``) so that a
shared machine gives stable numbers: the CPU and photonic variants of each case are timed in
interleaved blocks, and the minimum per-call time over the blocks is reported. The device is in
exact mode (the matmul entry computes the float product on host aliases), so the ratios are
the emulator's own overhead: the matmul entry, the alias fallback and the dispatcher.

Targets (the overhead the device emulation may add over the CPU): Linear <= 1.05x, fallback ops <= 1.3x for tensors of 64x1024 and up, a small
GPT-2-shaped model forward <= 1.25x.
"""
from __future__ import annotations

import argparse
import time

import torch

import torch_photonic  # noqa: F401

DEV = "photonic"


def per_call_seconds(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def interleaved(fn_cpu, fn_dev, blocks: int, target_block_s: float = 0.02):
    """Min over `blocks` interleaved blocks of the per-call time of each variant."""
    for _ in range(3):  # warm up both
        fn_cpu()
        fn_dev()
    one = max(per_call_seconds(fn_cpu, 3), 1e-7)
    calls = max(1, min(20000, int(target_block_s / one)))
    best_cpu = best_dev = float("inf")
    for _ in range(blocks):
        best_cpu = min(best_cpu, per_call_seconds(fn_cpu, calls))
        best_dev = min(best_dev, per_call_seconds(fn_dev, calls))
    return best_cpu, best_dev


def gpt2_pair():
    import transformers

    cfg = transformers.GPT2Config(n_layer=4, n_embd=256, n_head=4, vocab_size=1000, n_positions=128)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    dev_model = transformers.GPT2LMHeadModel(cfg).eval()
    dev_model.load_state_dict(model.state_dict())
    dev_model.to(DEV)
    tok = torch.randint(0, 1000, (4, 64))
    return model, dev_model, tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--skip-model", action="store_true", help="skip the transformers model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.photonic.set_config("exact")
    torch.manual_seed(0)
    rows = []

    def case(name, fn_cpu, fn_dev, target=None):
        with torch.no_grad():
            c, d = interleaved(fn_cpu, fn_dev, args.blocks)
        rows.append((name, c * 1e6, d * 1e6, d / c, target))

    lin = torch.nn.Linear(1024, 1024)
    lin_d = torch.nn.Linear(1024, 1024).to(DEV)
    lin_d.load_state_dict(lin.state_dict())
    x = torch.randn(64, 1024)
    xd = x.to(DEV)
    case("nn.Linear(1024,1024) fwd, batch 64", lambda: lin(x), lambda: lin_d(xd), 1.05)

    big = torch.randn(1000, 1000)  # 1e6 elements
    big_d = big.to(DEV)
    case("relu, 1e6 elements", lambda: torch.relu(big), lambda: torch.relu(big_d), 1.3)

    a = torch.randn(64, 1024)
    ad = a.to(DEV)
    case("relu, 64x1024", lambda: torch.relu(a), lambda: torch.relu(ad), 1.3)
    case("add a+a, 64x1024", lambda: a + a, lambda: ad + ad, 1.3)
    case("softmax, 64x1024", lambda: a.softmax(-1), lambda: ad.softmax(-1), 1.3)

    if not args.skip_model:
        try:
            m, md, tok = gpt2_pair()
        except ImportError:
            print("transformers not installed: skipping the model")
        else:
            tok_d = tok.to(DEV)
            with torch.no_grad():
                diff = (md(tok_d).logits.cpu() - m(tok).logits).abs().max().item()
            case("GPT-2 4x256 fwd, 4x64 tokens", lambda: m(tok), lambda: md(tok_d), 1.25)
            print(f"(GPT-2 photonic vs cpu logits max |diff| = {diff:.2e})")

    tiny = torch.randn(4, 4)
    tiny_d = tiny.to(DEV)
    case("relu 4x4 (fixed per-op cost)", lambda: torch.relu(tiny), lambda: torch.relu(tiny_d))
    case("add 4x4 (fixed per-op cost)", lambda: tiny + tiny, lambda: tiny_d + tiny_d)
    case("view (native view kernel)", lambda: tiny.view(16), lambda: tiny_d.view(16))

    print(f"torch {torch.__version__}, 1 thread, min of {args.blocks} interleaved blocks")
    print(f"{'case':<38}{'cpu us':>12}{'photonic us':>14}{'ratio':>8}  target")
    for name, c, d, r, target in rows:
        verdict = "" if target is None else (f"<= {target:.2f} " + ("ok" if r <= target else "MISSED"))
        print(f"{name:<38}{c:>12.1f}{d:>14.1f}{r:>8.2f}  {verdict}")
    relu_tiny = next(r for r in rows if r[0].startswith("relu 4x4"))
    add_tiny = next(r for r in rows if r[0].startswith("add 4x4"))
    print(f"fixed per-op overhead of the host fallback: relu {relu_tiny[2] - relu_tiny[1]:.1f} us, "
          f"add {add_tiny[2] - add_tiny[1]:.1f} us")


if __name__ == "__main__":
    main()
