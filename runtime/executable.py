"""A compiled graph you can call with numpy arrays.

Updates the graph declares (``graph.updates``) are written by the native
code itself into the parameters' arrays at the end of the call.

One native call per invocation: the runtime binds the symbolic sizes from the
inputs, points the table at the caller's input arrays, fresh output arrays,
the parameters' own live arrays (no copies: the compiled code reads the
weights where the layers keep them) and an arena for intermediates, then
calls the entry function once.
"""
from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Sequence

import numpy as np

from codegen.cpu.compiler import BufferRole, CompiledModule, compile_graph
from ir.graph import Graph
from ir.shapes import bind_symbols, evaluate_shape
from runtime.jit import JitLibrary

_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_ALIGN = 64
_ARENA_CACHE = 4


class Executable:
    """``graph`` compiled for the host CPU; call it with one array per graph input."""

    def __init__(self, graph: Graph, *, opt_level: int = 3, entry: str = "horn_forward"):
        self.graph = graph
        self.module: CompiledModule = compile_graph(graph, entry)
        self.library = JitLibrary(self.module.llvm_ir, opt_level)
        self._fn = _ENTRY(self.library.address(entry))
        specs = self.module.buffers
        self._input_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.INPUT]
        self._output_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.OUTPUT]
        self._param_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.PARAM]
        self._temp_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.TEMP]
        self._updated = {id(p) for p, _ in graph.updates}
        self._arenas: OrderedDict[tuple, tuple[np.ndarray, list[int]]] = OrderedDict()

    @property
    def kernel_count(self) -> int:
        return self.module.kernel_count

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        g, specs = self.graph, self.module.buffers
        if len(inputs) != len(g.inputs):
            raise ValueError(f"expected {len(g.inputs)} input(s), received {len(inputs)}")
        sizes: dict[str, int] = {}
        arrays: list[np.ndarray] = []
        for v, x in zip(g.inputs, inputs):
            x = np.asarray(x, order="C")   # not ascontiguousarray: it turns a 0-d array into shape (1,)
            if x.dtype != v.dtype.numpy:
                raise TypeError(f"input {v.name!r}: expected dtype {v.dtype.numpy}, received {x.dtype}")
            bind_symbols(v.shape, x.shape, sizes, f"input {v.name!r}")
            arrays.append(x)
        missing = [s for s in self.module.sym_names if s not in sizes]
        if missing:
            raise ValueError(f"no input fixes the size of dimension(s) {', '.join(missing)}")

        table = (ctypes.c_void_p * len(specs))()
        for s, x in zip(self._input_slots, arrays):
            table[s] = x.ctypes.data
        outputs = [np.empty(evaluate_shape(specs[s].shape, sizes), specs[s].dtype.numpy)
                   for s in self._output_slots]
        for s, y in zip(self._output_slots, outputs):
            table[s] = y.ctypes.data
        params = [self._param_array(v) for v in g.params]
        for s, p in zip(self._param_slots, params):
            table[s] = p.ctypes.data
        arena, offsets = self._arena(sizes)
        base = arena.ctypes.data
        for s, off in zip(self._temp_slots, offsets):
            table[s] = base + off
        sym = (ctypes.c_int64 * max(1, len(self.module.sym_names)))(
            *(sizes[n] for n in self.module.sym_names))
        self._fn(ctypes.addressof(sym), ctypes.addressof(table))
        # arrays/params stay referenced until here, so their memory outlives the call.
        del arrays, params
        return outputs

    def _param_array(self, v) -> np.ndarray:
        arr = v.binding.numpy()
        if (arr.dtype != v.dtype.numpy or tuple(arr.shape) != tuple(v.shape)
                or not arr.flags.c_contiguous):
            raise ValueError(f"parameter {v.name!r}: expected a contiguous {v.type} array, "
                             f"received {arr.dtype}{list(arr.shape)}")
        if id(v) in self._updated and not arr.flags.writeable:
            raise ValueError(f"parameter {v.name!r} is updated by the compiled step, but its array "
                             f"is read-only")
        return arr

    def _arena(self, sizes: dict[str, int]) -> tuple[np.ndarray, list[int]]:
        """One block for every intermediate at these sizes (no reuse yet: planning comes later)."""
        key = tuple(sorted(sizes.items()))
        hit = self._arenas.get(key)
        if hit is not None:
            self._arenas.move_to_end(key)
            return hit
        offsets, total = [], 0
        for s in self._temp_slots:
            spec = self.module.buffers[s]
            nbytes = int(np.prod(evaluate_shape(spec.shape, sizes), dtype=np.int64)) * spec.dtype.itemsize
            offsets.append(total)
            total += (nbytes + _ALIGN - 1) // _ALIGN * _ALIGN
        raw = np.empty(total + _ALIGN, np.uint8)
        shift = (-raw.ctypes.data) % _ALIGN
        arena = raw[shift:shift + total] if total else raw[:0]
        self._arenas[key] = (arena, offsets)
        if len(self._arenas) > _ARENA_CACHE:
            self._arenas.popitem(last=False)
        return arena, offsets


def compile_executable(graph: Graph, *, opt_level: int = 3) -> Executable:
    return Executable(graph, opt_level=opt_level)
