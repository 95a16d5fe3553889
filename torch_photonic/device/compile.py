"""``torch.compile`` with Inductor on the ``photonic`` device.

Photonic tensors live in host memory, so Inductor's C++/OpenMP code generator (the one it uses
for ``cpu``) can read and write them directly through ``data_ptr()``. :func:`register_inductor`
registers that generator for the ``photonic`` device type:

* kernel code: Inductor's C++ scheduling; wrapper code: its Python wrapper, which launches the
  C++ kernels of photonic buffers as plain host calls and allocates buffers with
  ``empty_strided(..., device='photonic')``;
* device hooks (streams, guards, properties) answered as for the host;
* the few places where Inductor decides "host C++ kernel or GPU kernel" from the device type
  (scheduler fusion rules, realization heuristics, the backend name used by the code generator)
  answer "host" for ``photonic`` too, so it takes the same code paths as ``cpu``.

Matrix products are never lowered to Inductor's GEMM templates or rewritten into pointwise
code on this device: ``mm``/``addmm``/``bmm``/``baddbmm`` stay extern calls to the aten ops
(their ``out=`` forms), which dispatch to the device's matmul entry, so the optical emulation
and the energy meter see every product of a compiled graph, as in eager mode.
"""
from __future__ import annotations

import functools
import importlib.abc
import sys
import threading
import warnings
from typing import Any, Callable, Optional

import torch

NAME = "photonic"

# Importing Inductor (and Dynamo under it) takes seconds, so the registration waits until
# Inductor's compiler module is imported: :func:`install` leaves a watcher on the import system
# that registers the device right after that import, or registers at once if it already happened.
_TRIGGER = "torch._inductor.compile_fx"

_lock = threading.RLock()
_registered = False


def _wrapper_class() -> type:
    """The Python wrapper generator of the device (top-level graphs; subgraphs get a twin)."""
    from torch._inductor.codegen.wrapper import PythonWrapperCodegen, SubgraphPythonWrapperCodegen
    from torch._inductor.virtualized import V

    class _HostKernelCalls:
        """Launches the generated C++ kernels of ``photonic`` buffers as plain host calls."""

        def _generate_kernel_call_helper(self, kernel_name: str, call_args: Any, *, device: Any = None,
                                         triton: bool = True, **kwargs: Any) -> None:
            device = device or V.graph.get_current_device_or_throw()
            if not triton and device.type == NAME:
                self.writeline(self.wrap_kernel_call(kernel_name, call_args))
                return
            super()._generate_kernel_call_helper(kernel_name, call_args, device=device, triton=triton, **kwargs)

    class PhotonicSubgraphWrapperCodegen(_HostKernelCalls, SubgraphPythonWrapperCodegen):
        pass

    class PhotonicWrapperCodegen(_HostKernelCalls, PythonWrapperCodegen):
        def write_header(self) -> None:
            super().write_header()
            self.header.writeline(f"from {__name__} import reinterpret_tensor")

        @staticmethod
        def create(is_subgraph: bool, subgraph_name: Optional[str], parent_wrapper: Any,
                   partition_signatures: Any = None) -> Any:
            if is_subgraph:
                if subgraph_name is None or parent_wrapper is None:
                    raise ValueError("photonic Inductor wrapper: a subgraph needs subgraph_name and "
                                     f"parent_wrapper, got subgraph_name={subgraph_name!r}, "
                                     f"parent_wrapper={type(parent_wrapper).__name__}")
                return PhotonicSubgraphWrapperCodegen(subgraph_name, parent_wrapper, partition_signatures)
            return PhotonicWrapperCodegen()

    return PhotonicWrapperCodegen


def reinterpret_tensor(base: torch.Tensor, size: Any, stride: Any, offset: int) -> torch.Tensor:
    """The wrapper's ``reinterpret_tensor``: a view of ``base`` with ``size``/``stride`` at
    ``offset`` elements past ``base``'s own offset.

    On the device it is a tracked view (``as_strided``), so a weight reinterpreted as ``W.T`` for
    a product still names ``W`` as its base, as ``W.t()`` does in eager mode: the matmul handler
    keys programmed weights by that base, and a fresh untracked alias per call would program
    the weight again on every call.
    """
    if base.device.type == NAME:
        return base.as_strided(size, stride, base.storage_offset() + offset)
    return torch._C._dynamo.guards._reinterpret_tensor(base, size, stride, offset)


def _device_interface() -> type:
    from torch._dynamo.device_interface import CpuInterface

    class PhotonicInterface(CpuInterface):
        """Dynamo/Inductor's view of the device: synchronous, one device, host-like properties."""

        @staticmethod
        def is_available() -> bool:
            return True

        @staticmethod
        def device_count() -> int:
            return 1

        @staticmethod
        def is_triton_capable(device: Any = None) -> bool:
            return False

    return PhotonicInterface


# ---- host answers for "photonic" where Inductor branches on the device type -----------------
def _patch_host_checks() -> None:
    from torch._inductor import ir, scheduler, utils
    from torch._inductor.codegen import common

    # Scheduler nodes: fusion rules that only hold for SIMD (GPU-style) kernels are skipped for
    # host kernels; the C++ scheduling's node groups have the host layout.
    node_is_cpu = scheduler.BaseSchedulerNode.is_cpu
    if not getattr(node_is_cpu, "_photonic_host", False):
        @functools.wraps(node_is_cpu)
        def is_cpu(self: Any) -> bool:
            if node_is_cpu(self):
                return True
            device = self.get_device()
            return device is not None and device.type == NAME

        is_cpu._photonic_host = True
        scheduler.BaseSchedulerNode.is_cpu = is_cpu

    # IR realization heuristics for host kernels.
    ir_is_cpu = ir.is_cpu
    if not getattr(ir_is_cpu, "_photonic_host", False):
        @functools.wraps(ir_is_cpu)
        def is_cpu_ir(x: Any) -> bool:
            return ir_is_cpu(x) or ir.get_device_type(x) == NAME

        is_cpu_ir._photonic_host = True
        ir.is_cpu = is_cpu_ir

    # The code generator's backend name: "cpp" for the device (else it reads as Triton).
    current_backend = utils.get_current_backend
    if not getattr(current_backend, "_photonic_host", False):
        @functools.wraps(current_backend)
        def get_current_backend(device_type: Optional[str] = None) -> str:
            if not device_type:
                from torch._inductor.virtualized import V

                device_type = V.graph.get_current_device_or_throw().type
            if device_type == NAME:
                return "cpp"
            return current_backend(device_type)

        get_current_backend._photonic_host = True
        for module in (utils, common, scheduler):
            if getattr(module, "get_current_backend", None) is current_backend:
                module.get_current_backend = get_current_backend


def _patch_layout_choice() -> None:
    """No channels-last layout optimization for graphs with convolutions on the device: the
    device's convolution runs the host kernel, whose output strides for channels-last inputs
    differ from what the shared meta rules predict for a non-cpu device."""
    from torch._inductor.graph import GraphLowering

    decide = GraphLowering.decide_layout_opt
    if getattr(decide, "_photonic_host", False):
        return

    @functools.wraps(decide)
    def decide_layout_opt(gm: torch.fx.GraphModule, *, is_inference: bool) -> bool:
        for node in gm.graph.nodes:
            if node.target is torch.ops.aten.convolution.default:
                val = node.meta.get("val")
                if isinstance(val, torch.Tensor) and val.device.type == NAME:
                    return False
        return decide(gm, is_inference=is_inference)

    decide_layout_opt._photonic_host = True
    GraphLowering.decide_layout_opt = staticmethod(decide_layout_opt)


# ---- matrix products stay on the matmul entry ------------------------------------------------
def _keep_products_on_device(decomposition: Callable) -> Callable:
    """``decomposition`` of a matrix product, except on the device (where the product is kept)."""

    @functools.wraps(decomposition)
    def decompose(*args: Any, **kwargs: Any) -> Any:
        for a in (*args, *kwargs.values()):
            if isinstance(a, torch.Tensor) and a.device.type == NAME:
                return NotImplemented
        return decomposition(*args, **kwargs)

    decompose._photonic_keeps_products = True
    return decompose


def _patch_product_decompositions() -> None:
    """Inductor rewrites some products (outer products, single-row/column ones) into pointwise
    and reduction code; on the device they must reach the matmul entry instead."""
    from torch._inductor import decomposition

    aten = torch.ops.aten
    products = (aten.mm, aten.addmm, aten.bmm, aten.baddbmm)
    table = decomposition.decompositions
    for op, fn in list(table.items()):
        if getattr(op, "overloadpacket", None) in products and not getattr(fn, "_photonic_keeps_products", False):
            table[op] = _keep_products_on_device(fn)


def _cache_key_pass() -> Any:
    """A graph pass that changes nothing; its ``uuid`` (a hash of this file) enters Inductor's
    compiled-graph cache key, so artifacts generated under another version of this
    registration are not reused."""
    from torch._inductor.custom_graph_pass import CustomGraphModulePass, get_hash_for_files

    class PhotonicCacheKey(CustomGraphModulePass):
        def __call__(self, gm: torch.fx.GraphModule) -> None:
            return None

        def uuid(self) -> Any:
            return get_hash_for_files((__file__,))

    return PhotonicCacheKey()


def _register_unavailable(error: BaseException) -> None:
    """What Inductor finds for the device when the registration failed: a scheduling that
    raises an error naming the cause and the backend that works."""
    from torch._inductor.codegen.common import register_backend_for_device, register_device_op_overrides

    message = (f"photonic: torch.compile's default backend (Inductor) is not available on the photonic "
               f"device in this PyTorch ({torch.__version__}): registering it failed with "
               f"{type(error).__name__}: {error}. Compile with backend=\"aot_eager\" instead")

    class Unavailable:
        """Scheduling and wrapper generator of the device when it could not be registered."""

        supports_caching = False

        def __init__(self, *args: Any, **kwargs: Any):
            raise RuntimeError(message)

        @staticmethod
        def create(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(message)

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(message)

    # replaces whatever part of the registration went through: a half-registered device would
    # fail later with a less clear error
    register_backend_for_device(NAME, Unavailable, Unavailable)
    register_device_op_overrides(NAME, Unavailable.__new__(Unavailable))


def register_inductor() -> None:
    """Registers the ``photonic`` device with Inductor (idempotent; imports Inductor)."""
    global _registered
    with _lock:
        if _registered:
            return
        from torch._dynamo.device_interface import register_interface_for_device
        from torch._inductor.codegen.common import register_backend_for_device, register_device_op_overrides
        from torch._inductor.codegen.cpp import CppScheduling
        from torch._inductor.codegen.cpu_device_op_overrides import CpuDeviceOpOverrides

        register_backend_for_device(NAME, CppScheduling, _wrapper_class(), device_custom_pass=_cache_key_pass())
        register_device_op_overrides(NAME, CpuDeviceOpOverrides())
        register_interface_for_device(NAME, _device_interface())
        _patch_host_checks()
        _patch_layout_choice()
        _patch_product_decompositions()
        _registered = True


class _RegisteringLoader(importlib.abc.Loader):
    """The loader of Inductor's compiler module, registering the device once it has run."""

    def __init__(self, inner: Any):
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._inner  # the module keeps its own loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        _uninstall_watcher()
        _register_quietly()

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for tracebacks
        return getattr(self._inner, name)


class _InductorImportWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself; hands the import of Inductor's compiler module a registering loader."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _TRIGGER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


_watcher: Optional[_InductorImportWatcher] = None


def _uninstall_watcher() -> None:
    global _watcher
    with _lock:
        if _watcher is not None and _watcher in sys.meta_path:
            sys.meta_path.remove(_watcher)
        _watcher = None


def _register_quietly() -> None:
    """Registers the device; a failure must not break Inductor for the other devices, so it is
    reported as a warning and compiling on the device raises the error naming the alternative."""
    try:
        register_inductor()
    except Exception as error:  # noqa: BLE001  (any failure of the registration is reported)
        warnings.warn(f"photonic: could not register the device with Inductor ({type(error).__name__}: "
                      f"{error}); torch.compile on the photonic device needs backend=\"aot_eager\"",
                      RuntimeWarning, stacklevel=2)
        try:
            _register_unavailable(error)
        except Exception:  # noqa: BLE001  (nothing more can be done; Inductor reports the device)
            pass


def install() -> None:
    """Arranges the Inductor registration of the device without importing Inductor now: at once
    if Inductor's compiler module is already imported, else right after it is."""
    global _watcher
    with _lock:
        if _registered or _watcher is not None:
            return
        if _TRIGGER in sys.modules:
            _register_quietly()
            return
        _watcher = _InductorImportWatcher()
        sys.meta_path.insert(0, _watcher)
