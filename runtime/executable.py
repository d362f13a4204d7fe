"""A compiled graph you can call with numpy arrays.

Updates the graph declares (``graph.updates``) are written by the native
code itself into the parameters' arrays at the end of the call.

One native call per invocation: the runtime binds the symbolic sizes from the
inputs, points the table at the caller's input arrays, fresh output arrays,
the parameters' own live arrays (no copies: the compiled code reads the
weights where the layers keep them) and an arena for intermediates, then
calls the entry function once.

The call path is lean because batch-1 latency is measured in microseconds:
everything that depends only on the input shapes (the sizes of the symbols,
the memory plan's offsets into the arena, the output shapes, the pointer
table with the arena and parameter slots filled in, the ``sym`` array) is
built once per distinct set of input shapes and cached. A call then checks
the inputs' dtypes, looks its shapes up, writes the input and output
pointers into the cached table and calls the entry.
"""
from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Sequence

import numpy as np

from codegen.cpu.compiler import BufferRole, CompiledModule, compile_graph
from ir.graph import Graph
from ir.shapes import bind_symbols, evaluate_shape
from passes.memory_planning import ALIGN
from runtime import versions
from runtime.hoist import split_weight_only
from runtime.jit import JitLibrary

_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _data_pointer_reader():
    """The fastest correct way to read an ndarray's data pointer.

    ``arr.ctypes.data`` builds a ctypes helper object per call (about 5 us,
    more than a batch-1 MLP takes to run). The pointer is the first field of
    numpy's array struct after the object header, so it can be read at
    ``id(arr) + object.__basicsize__`` (about 1 us). That layout is checked
    here on arrays and views; where it does not hold, ``ctypes.data`` is used.
    """
    offset, read = object.__basicsize__, ctypes.c_void_p.from_address
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    probes = [base, base[1:], base[:, 2:], np.empty((0,)), np.zeros(()), np.ones(3, np.int64)]
    if all((read(id(a) + offset).value or 0) == a.ctypes.data for a in probes):
        return lambda a: read(id(a) + offset).value or 0
    return lambda a: a.ctypes.data


_data_pointer = _data_pointer_reader()
_ARENA_CACHE = 4      # arenas kept (one per binding of the symbols), least recently used dropped
_SHAPES_CACHE = 4     # bound tables kept (one per distinct set of input shapes); each holds its arena


class _Bound:
    """What one set of input shapes fixes: the table (arena and params filled in), sym, outputs."""

    __slots__ = ("sizes", "table", "table_addr", "sym", "sym_addr", "outputs", "arena")

    def __init__(self, sizes, table, sym, outputs, arena):
        self.sizes = sizes
        self.table = table
        self.table_addr = ctypes.addressof(table)
        self.sym = sym
        self.sym_addr = ctypes.addressof(sym)
        self.outputs = outputs          # (shape, numpy dtype) per output
        self.arena = arena              # kept alive with the table that points into it


class Executable:
    """``graph`` compiled for the host CPU; call it with one array per graph input.

    ``opt_level`` is LLVM's. ``reuse_memory`` switches the memory plan's
    buffer reuse (off gives every intermediate its own memory, for -O0 and for
    bisecting); ``inplace`` lets elementwise kernels write over a dying operand
    (off by default: see ``codegen.cpu.compiler.compile_graph``).
    ``hoist`` moves what depends only on weights into a prologue that runs
    once per weight version (``runtime.hoist``); ``graph`` stays the whole
    graph, ``main_graph`` is what runs per call.
    """

    def __init__(self, graph: Graph, *, opt_level: int = 3, entry: str = "horn_forward",
                 reuse_memory: bool = True, inplace: bool = False, hoist: bool = False):
        self.graph = graph
        self._prologue: Executable | None = None
        split = split_weight_only(graph) if hoist else None
        if split is not None:
            self._prologue = Executable(split.prologue, opt_level=opt_level, entry=f"{entry}_prologue",
                                        reuse_memory=reuse_memory, inplace=inplace)
            self._hoisted = split.bindings
            self._sources = [p.binding for p in split.sources]
            self._versions: tuple | None = None
            self._epoch = -1
            graph = split.main
        self.main_graph = graph
        self.module: CompiledModule = compile_graph(graph, entry, reuse_memory=reuse_memory,
                                                    inplace=inplace)
        self.library = JitLibrary(self.module.llvm_ir, opt_level)
        self._fn = _ENTRY(self.library.address(entry))
        specs = self.module.buffers
        self._n_slots = len(specs)
        self._input_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.INPUT]
        self._output_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.OUTPUT]
        self._param_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.PARAM]
        self._temp_slots = [i for i, b in enumerate(specs) if b.role is BufferRole.TEMP]
        self._inputs = [(v, np.dtype(v.dtype.numpy)) for v in graph.inputs]   # dtypes are singletons: `is`
        self._io = list(zip(self._input_slots, range(len(self._input_slots))))
        self._updated = {id(p) for p, _ in graph.updates}
        # Bindings whose version to bump after each call: the graph writes their arrays.
        self._bumped = [p.binding for p, _ in graph.updates if hasattr(p.binding, "_bump_version")]
        self._params = [(s, v, None) for s, v in zip(self._param_slots, self.main_graph.params)]
        self._arenas: OrderedDict[tuple, tuple[np.ndarray, list[int]]] = OrderedDict()
        self._bound: OrderedDict[tuple, _Bound] = OrderedDict()

    @property
    def kernel_count(self) -> int:
        return self.module.kernel_count

    @property
    def plan(self):
        """The memory plan of the intermediates (``passes.memory_planning.MemoryPlan``)."""
        return self.module.plan

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        if len(inputs) != len(self._inputs):
            raise ValueError(f"expected {len(self._inputs)} input(s), received {len(inputs)}")
        arrays = []
        for (v, dtype), x in zip(self._inputs, inputs):
            if type(x) is not np.ndarray or x.dtype is not dtype or not x.flags.c_contiguous:
                x = np.asarray(x, order="C")   # not ascontiguousarray: it turns a 0-d array into shape (1,)
                if x.dtype != dtype:
                    raise TypeError(f"input {v.name!r}: expected dtype {dtype}, received {x.dtype}")
            arrays.append(x)
        key = tuple([x.shape for x in arrays])
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bind(arrays, key)
        if self._prologue is not None and versions.EPOCH[0] != self._epoch:
            self._run_prologue()
        self._refresh_params()
        table = bound.table
        for s, x in zip(self._input_slots, arrays):
            table[s] = _data_pointer(x)
        outputs = [np.empty(shape, dtype) for shape, dtype in bound.outputs]
        for s, y in zip(self._output_slots, outputs):
            table[s] = _data_pointer(y)
        self._fn(bound.sym_addr, bound.table_addr)
        for b in self._bumped:
            b._bump_version()
        # ``arrays`` stays referenced until here, so the inputs' memory outlives the call.
        del arrays
        return outputs

    # -- binding ---------------------------------------------------------------------------------
    def _bind(self, arrays: Sequence[np.ndarray], key: tuple) -> _Bound:
        """Checks shapes against the graph and builds the table for them (cached by shapes)."""
        sizes: dict[str, int] = {}
        for (v, _), x in zip(self._inputs, arrays):
            bind_symbols(v.shape, x.shape, sizes, f"input {v.name!r}")
        missing = [s for s in self.module.sym_names if s not in sizes]
        if missing:
            raise ValueError(f"no input fixes the size of dimension(s) {', '.join(missing)}")
        specs = self.module.buffers
        table = (ctypes.c_void_p * max(1, self._n_slots))()
        arena, offsets = self._arena(sizes)
        base = arena.ctypes.data
        for s, off in zip(self._temp_slots, offsets):
            table[s] = base + off
        for s, _, arr in self._params:
            if arr is not None:
                table[s] = _data_pointer(arr)
        sym = (ctypes.c_int64 * max(1, len(self.module.sym_names)))(
            *(sizes[n] for n in self.module.sym_names))
        outputs = [(evaluate_shape(specs[s].shape, sizes), specs[s].dtype.numpy) for s in self._output_slots]
        bound = _Bound(sizes, table, sym, outputs, arena)
        self._bound[key] = bound
        if len(self._bound) > _SHAPES_CACHE:
            self._bound.popitem(last=False)
        return bound

    def _run_prologue(self) -> None:
        """Recomputes the hoisted values if a weight the prologue reads has a new version."""
        self._epoch = versions.EPOCH[0]
        now = tuple(b._version for b in self._sources)
        if now == self._versions:
            return
        for binding, value in zip(self._hoisted, self._prologue()):
            binding.array = value          # a new array: _refresh_params repoints the tables
        self._versions = now

    @property
    def hoisted_count(self) -> int:
        """How many values the prologue computes once per weight version (0: no prologue)."""
        return 0 if self._prologue is None else len(self._hoisted)

    def _refresh_params(self) -> None:
        """Points every cached table at the parameters' current arrays (checked when they change)."""
        for i, (s, v, seen) in enumerate(self._params):
            arr = v.binding.numpy() if v.binding is not None else None
            if arr is seen:
                continue
            arr = self._param_array(v)
            self._params[i] = (s, v, arr)
            addr = _data_pointer(arr)
            for bound in self._bound.values():
                bound.table[s] = addr

    def _param_array(self, v) -> np.ndarray:
        if v.binding is None:
            raise ValueError(f"parameter {v.name!r} has no bound array")
        arr = v.binding.numpy()
        if (not isinstance(arr, np.ndarray) or arr.dtype != v.dtype.numpy
                or tuple(arr.shape) != tuple(v.shape) or not arr.flags.c_contiguous):
            raise ValueError(f"parameter {v.name!r}: expected a contiguous {v.type} array, "
                             f"received {getattr(arr, 'dtype', type(arr).__name__)}"
                             f"{list(getattr(arr, 'shape', ()))}")
        if id(v) in self._updated and not arr.flags.writeable:
            raise ValueError(f"parameter {v.name!r} is updated by the compiled step, but its array "
                             f"is read-only")
        return arr

    def _arena(self, sizes: dict[str, int]) -> tuple[np.ndarray, list[int]]:
        """The arena for these sizes, placed by the memory plan (cached per binding of the symbols)."""
        key = tuple(sorted(sizes.items()))
        hit = self._arenas.get(key)
        if hit is not None:
            self._arenas.move_to_end(key)
            return hit
        placement = self.module.plan.at(sizes)
        by_slot = dict(zip(self.module.plan.slots, placement.offsets))
        offsets = [by_slot[s] for s in self._temp_slots]
        total = placement.arena_bytes
        raw = np.empty(total + ALIGN, np.uint8)
        shift = (-raw.ctypes.data) % ALIGN
        arena = raw[shift:shift + total] if total else raw[:0]
        self._arenas[key] = (arena, offsets)
        if len(self._arenas) > _ARENA_CACHE:
            self._arenas.popitem(last=False)
        return arena, offsets


def compile_executable(graph: Graph, *, opt_level: int = 3) -> Executable:
    return Executable(graph, opt_level=opt_level)
