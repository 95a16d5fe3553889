"""The one store of programmed weights, shared by the ``photonic`` device and ``convert()``.

What a PCM array holds for a weight matrix is a :class:`~torch_photonic.optics.kernels.
ProgrammedState`. The store keeps one per

* **weight tensor**, held weakly (the entry dies with the tensor, never keyed by an address),
* **matrix inside it** (storage offset, shape and strides: one expert of a fused 3-D tensor is one
  matrix),
* **config**, compared field by field (changing any field of the hardware programs again),

and reprograms when the tensor's version (an in-place update) or its storage changes. A weight
whose digital copy was let go (:meth:`WeightStore.release`) keeps its cells as they are: its
placeholder only names them.

It also holds what both paths must agree on:

* **names**: a weight is named once (``label``: the module path of the parameter, e.g.
  ``layers.0.self_attn.q_proj.weight``); meter rows and noise seeds come from that name;
* **seeds**: the cells of a weight draw programming noise from ``mix(config.seed, name, matrix,
  writes)``, so distinct weights draw independent noise and the same weight, config and seed give
  the same cells on either path; each read of a matrix draws its read noise from the next value of
  the matrix's own counter;
* **the ageing clock**: every programmed weight is ``age`` seconds old (drift), settable for all
  weights or for the weights of one model.
"""
from __future__ import annotations

import itertools
import threading
import zlib
from dataclasses import dataclass
from typing import Any, Dict, Hashable, Optional, Tuple

import torch
from torch.utils.weak import WeakIdKeyDictionary

from ..energy import events
from ..hardware.config import HardwareConfig
from . import calibration, kernels

__all__ = ["WeightStore", "store", "mix_seed", "name_seed"]


def mix_seed(*values: int) -> int:
    """A 62-bit seed from integers (FNV-style multiply-xorshift; order matters)."""
    h = 0x243F6A8885A308D3
    for v in values:
        h ^= int(v) & 0xFFFFFFFFFFFFFFFF
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & 0x3FFFFFFFFFFFFFFF


def name_seed(name: str) -> int:
    return zlib.crc32(name.encode())


MatrixKey = Tuple[int, Tuple[int, ...], Tuple[int, ...]]


def matrix_key(matrix: torch.Tensor) -> MatrixKey:
    """Where ``matrix`` ([out, in]) sits inside its weight tensor."""
    return (int(matrix.storage_offset()), tuple(matrix.shape), tuple(matrix.stride()))


@dataclass(eq=False)
class _Entry:
    state: kernels.ProgrammedState
    version: Tuple[int, int]
    reads: int = 0
    writes: int = 1


class WeightStore:
    """Programmed weights keyed weakly by their tensor; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # weight tensor -> {(matrix key, config): _Entry}
        self._entries: "WeakIdKeyDictionary" = WeakIdKeyDictionary()
        self._names: "WeakIdKeyDictionary" = WeakIdKeyDictionary()
        self._ages: "WeakIdKeyDictionary" = WeakIdKeyDictionary()
        self._digital: "WeakIdKeyDictionary" = WeakIdKeyDictionary()
        self._released: "WeakIdKeyDictionary" = WeakIdKeyDictionary()
        self._anonymous = itertools.count()
        self._default_age = 0.0
        self._calibrating: Optional[str] = None   # calibration phase while calibrating

    # ------------------------------------------------------------------ names
    def label(self, weight: torch.Tensor, name: str, *, overwrite: bool = False) -> None:
        """Names ``weight`` (first name wins unless ``overwrite``)."""
        with self._lock:
            if overwrite or weight not in self._names:
                self._names[weight] = str(name)

    def label_module(self, module: torch.nn.Module, prefix: str = "") -> None:
        """Names every parameter of ``module`` by its path (``layers.0.q_proj.weight``)."""
        for name, p in module.named_parameters(prefix=prefix, remove_duplicate=True):
            self.label(p, name)

    def name_of(self, weight: torch.Tensor) -> str:
        """The weight's name; an unnamed weight gets a unique one (``weight#3[64x32]``)."""
        with self._lock:
            name = self._names.get(weight)
            if name is None:
                if isinstance(weight, torch.Tensor):
                    shape = "x".join(str(s) for s in weight.shape)
                else:  # a storage (inference tensors)
                    shape = f"{weight.nbytes()} bytes"
                name = f"weight#{next(self._anonymous)}[{shape}]"
                self._names[weight] = name
            return name

    @staticmethod
    def row_name(weight_name: str) -> str:
        """The module a weight belongs to, as meter rows name it (``.weight`` dropped)."""
        return weight_name[:-len(".weight")] if weight_name.endswith(".weight") else weight_name

    # ------------------------------------------------------------------ digital weights
    def keep_digital(self, weight: torch.Tensor, digital: bool = True) -> None:
        """Marks ``weight`` to be multiplied in the digital domain (on the host) by the device,
        as ``convert()`` leaves its excluded modules digital."""
        with self._lock:
            if digital:
                self._digital[weight] = True
            else:
                self._digital.pop(weight, None)

    def is_digital(self, weight: Any) -> bool:
        return bool(self._digital) and self._digital.get(weight, False)

    # ------------------------------------------------------------------ clock
    def set_age(self, seconds: float, weight: Optional[torch.Tensor] = None) -> None:
        """Seconds since programming for ``weight``, or for every weight without its own age."""
        with self._lock:
            if weight is None:
                self._default_age = float(seconds)
            else:
                self._ages[weight] = float(seconds)

    def age_of(self, weight: torch.Tensor) -> float:
        age = self._ages.get(weight)
        return self._default_age if age is None else age

    @property
    def default_age(self) -> float:
        return self._default_age

    # ------------------------------------------------------------------ programming
    def _version(self, weight: Any) -> Tuple[int, int]:
        """What tells a changed weight: its version counter and data pointer. Storages (the keys
        of inference tensors, which count no versions) only have the pointer: an inference tensor
        updated in place inside ``inference_mode`` is not seen as changed."""
        if isinstance(weight, torch.Tensor) and not weight.is_inference():
            return (int(weight._version), int(weight.data_ptr()))
        return (-1, int(weight.data_ptr()))

    def entry(self, weight: torch.Tensor, matrix: torch.Tensor, config: HardwareConfig,
              expert: Optional[int] = None) -> _Entry:
        """The programmed entry of ``matrix`` (a host view [out, in] of ``weight``'s data) on
        ``config``: programmed on first use, reprogrammed when the weight changed."""
        where = matrix_key(matrix)
        key: Hashable = (where, config)
        version = self._version(weight)
        with self._lock:
            per = self._entries.get(weight)
            if per is None:
                per = {}
                self._entries[weight] = per
            old = per.get(key)
            if old is not None and (old.version == version or weight in self._released):
                return old
            name = self.name_of(weight)
            if weight in self._released:
                raise ValueError(
                    f"weight {name!r}: its digital copy was let go once programmed "
                    f"(release_weights), so it cannot be programmed for this matrix or config "
                    f"({config.name!r}); convert a fresh copy of the model instead")
            writes = 1 if old is None else old.writes + 1
            offset, shape, _ = where
            seed = mix_seed(config.seed, name_seed(name), offset, *shape, writes - 1)
            # A storage key (inference tensors) must not be kept alive by its own state.
            state = kernels.program(matrix, config, seed,
                                    keep_source=isinstance(weight, torch.Tensor))
            if self._calibrating is not None:
                state.calibration = calibration.Collector(self._calibrating)
            entry = _Entry(state=state, version=version, writes=writes)
            if old is not None:
                # the converters keep their ranges when the cells are rewritten
                state.input_range = old.state.input_range
                state.full_scale = old.state.full_scale
                state.cells_written += old.state.cells_written
                state.times_programmed += old.state.times_programmed
            per[key] = entry
        events.record_program(self.row_name(name), matrix.numel(),
                              matrix.numel() * config.array.cells_per_weight, config,
                              expert=expert)
        return entry

    def read_seed(self, weight: torch.Tensor, entry: _Entry, config: HardwareConfig) -> int:
        """The seed of the next read of ``entry`` (its own counter: both paths agree)."""
        with self._lock:
            entry.reads += 1
            n = entry.reads
        return mix_seed(config.seed, name_seed(self.name_of(weight)), entry.state.seed, n)

    # ------------------------------------------------------------------ releasing weights
    def release(self, weight: torch.Tensor, placeholder: torch.Tensor) -> int:
        """Lets the digital copy of ``weight`` go: every programmed matrix of it holds its cells
        only (:func:`~torch_photonic.optics.kernels.compact`), and from now on
        ``placeholder`` (a tensor of the same layout, e.g. on the ``meta`` device, that
        replaces ``weight`` in its module) names them: its name, age, digital mark and cells.
        It is never programmed again. The level codes wait next to the float32 t0 cells until
        :meth:`check_released` (call it once ``weight`` is freed). Returns the matrices."""
        with self._lock:
            per = self._entries.pop(weight, None) or {}
            for e in per.values():
                kernels.compact(e.state, check=False)
            self._entries[placeholder] = per
            for table in (self._names, self._ages, self._digital):
                if weight in table:
                    table[placeholder] = table.pop(weight)
            self._released[placeholder] = True
        return len(per)

    def check_released(self, placeholder: torch.Tensor) -> int:
        """Checks the level codes of a released weight's matrices against their t0 cells
        (:func:`~torch_photonic.optics.kernels.check_codes`); returns how many hold codes."""
        with self._lock:
            states = [e.state for e in (self._entries.get(placeholder) or {}).values()]
        return sum(bool(kernels.check_codes(st)) for st in states)

    def is_released(self, weight: Any) -> bool:
        return bool(self._released) and self._released.get(weight, False)

    # ------------------------------------------------------------------ calibration
    def begin_calibration(self, phase: str) -> None:
        """From now on every product of every weight feeds its calibration statistics
        (``phase``: ``"inputs"`` or ``"adc"``, see :mod:`torch_photonic.optics.calibration`)."""
        with self._lock:
            self._calibrating = phase
            for per in self._entries.values():
                for e in per.values():
                    e.state.calibration = calibration.Collector(phase)

    def finish_calibration(self) -> int:
        """Sets the measured ranges of every weight calibrated since :meth:`begin_calibration`;
        returns how many weights were calibrated."""
        n = 0
        with self._lock:
            self._calibrating = None
            for per in self._entries.values():
                for e in per.values():
                    if e.state.calibration is not None and e.state.calibration.batches:
                        n += 1
                    calibration.finish(e.state)
        return n

    @property
    def calibrating(self) -> bool:
        return self._calibrating is not None

    def clip_counts(self) -> Dict[str, kernels.ClipCounts]:
        """Converter clip counts per meter row (module), summed over its matrices and configs."""
        out: Dict[str, kernels.ClipCounts] = {}
        with self._lock:
            for weight, per in self._entries.items():
                row = self.row_name(self.name_of(weight))
                acc = out.setdefault(row, kernels.ClipCounts())
                for e in per.values():
                    c = e.state.clips
                    acc.inputs += c.inputs
                    acc.inputs_clipped += c.inputs_clipped
                    acc.outputs += c.outputs
                    acc.outputs_clipped += c.outputs_clipped
                    acc.retries += c.retries
        return out

    def reset_clip_counts(self) -> None:
        with self._lock:
            for per in self._entries.values():
                for e in per.values():
                    e.state.clips = kernels.ClipCounts()

    # ------------------------------------------------------------------ housekeeping
    def clear(self) -> None:
        """Forgets every programmed weight (names and ages stay)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._entries.values())

    def states(self, weight: torch.Tensor) -> Dict[Any, kernels.ProgrammedState]:
        """The programmed states of ``weight`` (matrix key and config -> state)."""
        with self._lock:
            return {k: e.state for k, e in (self._entries.get(weight) or {}).items()}

    def nbytes(self) -> int:
        with self._lock:
            return sum(e.state.nbytes for per in self._entries.values() for e in per.values())

    # ------------------------------------------------------------------ saving and loading
    def export(self, weight: torch.Tensor) -> Dict[str, Any]:
        """What the cells of ``weight`` hold, as plain tensors and numbers: its name, its own
        age (None: the default age), and per programmed matrix the matrix key, the config (as
        a dict), the t0 conductances and scales (and level codes, when held), the converter
        ranges, the seed, the read and
        write counters and the clip counts. :meth:`restore` puts them back."""
        with self._lock:
            per = dict(self._entries.get(weight) or {})
            age = self._ages.get(weight)
            name = self.name_of(weight)
        mats = []
        for (where, config), e in per.items():
            st = e.state
            mats.append(dict(
                where=[where[0], list(where[1]), list(where[2])], config=config.to_dict(),
                weff=st.base_weight().detach().cpu().clone(), scales=st.scales.cpu().clone(),
                full_scale=None if st.full_scale is None else st.full_scale.cpu().clone(),
                input_range=None if st.input_range is None else st.input_range.cpu().clone(),
                codes=None if st._codes is None else st._codes.cpu().clone(),
                seed=int(st.seed), reads=int(e.reads), writes=int(e.writes),
                cells_written=int(st.cells_written), times_programmed=int(st.times_programmed),
                clips=[st.clips.inputs, st.clips.inputs_clipped, st.clips.outputs,
                       st.clips.outputs_clipped, st.clips.retries]))
        return dict(name=name, age=age, matrices=mats)

    def restore(self, weight: torch.Tensor, saved: Dict[str, Any]) -> int:
        """Puts the cells :meth:`export` saved back for ``weight`` (the same values: nothing is
        programmed, no noise is drawn, nothing is charged); the weight takes the saved name
        and age. Returns the matrices restored."""
        mats = []
        for m in saved["matrices"]:
            config = HardwareConfig.from_dict(m["config"])
            where = (int(m["where"][0]), tuple(int(s) for s in m["where"][1]),
                     tuple(int(s) for s in m["where"][2]))
            weff = m["weff"].to(torch.float32)
            if tuple(weff.shape) != where[1]:
                raise ValueError(f"restore: saved cells of {saved['name']!r} have shape "
                                 f"{tuple(weff.shape)}, the matrix {where[1]}")
            state = kernels.ProgrammedState(
                weff=weff, scales=m["scales"].to(torch.float32), config=config,
                seed=int(m["seed"]), full_scale=m["full_scale"], input_range=m["input_range"],
                cells_written=int(m["cells_written"]),
                times_programmed=int(m["times_programmed"]), _shape=tuple(weff.shape),
                _codes=m.get("codes"))
            state.clips = kernels.ClipCounts(*[int(v) for v in m["clips"]])
            mats.append(((where, config), _Entry(state=state, version=self._version(weight),
                                                 reads=int(m["reads"]),
                                                 writes=int(m["writes"]))))
        with self._lock:
            self._names[weight] = str(saved["name"])
            if saved.get("age") is not None:
                self._ages[weight] = float(saved["age"])
            else:
                self._ages.pop(weight, None)
            per = self._entries.get(weight)
            if per is None:
                per = {}
                self._entries[weight] = per
            for key, entry in mats:
                per[key] = entry
        return len(mats)


#: The process-wide store both paths use.
store = WeightStore()
