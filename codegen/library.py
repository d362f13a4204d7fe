"""Ahead of time: a model compiled into ``lib<name>.so`` with a C API, and ``<name>.h``.

The inference graph (and, for a compiled model, its train step) go through
the same ``compile_graph`` as the JIT, are optimized for a :class:`Target`
and emitted as object files; a generated C wrapper (``codegen.capi``) puts
the C API over their entry functions; the system C compiler links the lot.

Weights are embedded in the library (``.incbin`` of one aligned blob into
read-only data), so deploying is copying one file. State the train step
updates (optimizer slots, the step counter) lives in the same blob, after the
model's weights. At run time the library needs libc and libm, and libgomp when
its kernels split loops across threads (``codegen.cpu.parallel``; a target
whose toolchain lacks libgomp gets serial kernels instead).

Outputs appear in ``out_dir`` whole or not at all: everything is built in a
temporary directory beside them and renamed into place.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import llvmlite.binding as llvm
import numpy as np

from codegen.capi import ALIGN, CApi, Entry, Slot, SlotKind, StateDecl, TensorDecl, header, source
from codegen.cpu.compiler import BufferRole, BufferSpec, CompiledModule, compile_graph
from codegen.cpu.host import generating_for
from codegen.cpu.parallel import uses_threads
from codegen.target import Target, resolve_target
from ir.dtypes import DType
from ir.graph import Graph, Value
from ir.shapes import BATCH, SymDim


class LibraryBuildError(RuntimeError):
    """The model cannot become a library, or the C toolchain failed; the message says which."""


@dataclass
class LibraryGraphs:
    """What a library is compiled from; ``frontend.models.export`` makes one from a model.

    ``weights`` are the parameter bindings (objects with ``numpy()``) exposed
    through get/set_weight, in ``model.get_weights()`` order. A train step graph
    has inputs ``<input>...``, ``<output>_target...``, ``sample_weight``,
    ``learning_rate`` and maybe ``rng_key``; its first output is the total loss.
    """

    name: str
    forward: Graph
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    weights: tuple[Any, ...]
    train_step: Graph | None = None
    target_names: tuple[str, ...] = ()
    iterations: Any = None               # binding of the optimizer's int64 step counter
    seed: int = 0
    learning_rate: float = 0.0

    @staticmethod
    def from_graph(graph: Graph) -> "LibraryGraphs":
        """A bare inference graph: its parameters are the weights."""
        return LibraryGraphs(name=graph.name, forward=graph,
                             input_names=tuple(v.name for v in graph.inputs),
                             output_names=tuple(f"output_{i}" for i in range(len(graph.outputs))),
                             weights=tuple(_binding(p) for p in graph.params))


@dataclass(frozen=True)
class LibraryInfo:
    """What ``compile_library`` wrote, and the interface the library has."""

    name: str
    library: Path
    header: Path
    target: Target
    inputs: tuple[TensorDecl, ...]
    outputs: tuple[TensorDecl, ...]
    targets: tuple[TensorDecl, ...]
    weights: tuple[StateDecl, ...]
    has_train_step: bool
    weights_bytes: int                   # the embedded blob: weights and optimizer state
    kernel_count: int


def compile_library(model_or_graph, out_dir: str | os.PathLike, *, name: str | None = None,
                    target: "str | Target | None" = None, opt_level: int = 3,
                    train_step: bool | None = None, targets: Sequence[tuple] | None = None,
                    input_shapes: Sequence[Sequence[int]] | None = None) -> LibraryInfo:
    """Compiles a model (or an inference ``ir.Graph``) into ``out_dir/lib<name>.so`` and ``<name>.h``.

    ``name`` is the C prefix of every exported symbol (default: the model's name).
    ``target`` is a name from ``codegen.target.TARGETS`` or a Target (default: the host).
    ``train_step``: include the train step; default: when the model was compiled
    (``model.compile``). ``targets``: per model output, ``(shape, dtype)`` of its
    target without the batch (default: the output's shape in float32, or its
    shape less the class axis in int32 for sparse crossentropy).
    ``input_shapes``: per-input shapes without the batch, for subclassed models
    that declare no inputs.
    """
    if isinstance(model_or_graph, LibraryGraphs):
        graphs = model_or_graph
    elif isinstance(model_or_graph, Graph):
        if train_step:
            raise ValueError("A bare graph has no train step: pass a compiled model for train_step=True")
        graphs = LibraryGraphs.from_graph(model_or_graph)
    else:
        from frontend.models.export import library_graphs
        graphs = library_graphs(model_or_graph, train_step=train_step, targets=targets,
                                input_shapes=input_shapes)
    tgt = resolve_target(target)
    cname = c_identifier(name if name is not None else graphs.name, explicit=name is not None)
    with generating_for(tgt):            # vector widths, tiles and threads of that machine
        api, modules, blob = _lower(graphs, cname)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".horn-build-", dir=out))
    try:
        (build / "weights.bin").write_bytes(blob)
        from horn import __version__
        (build / f"{cname}.h").write_text(header(api, __version__))
        (build / f"{cname}_capi.c").write_text(source(api, str((build / "weights.bin").resolve())))
        objects = []
        for i, module in enumerate(modules):
            path = build / f"{cname}_{i}.o"
            path.write_bytes(_emit_object(module, tgt, opt_level))
            objects.append(path)
        so = build / f"lib{cname}.so"
        _link(tgt, build / f"{cname}_capi.c", objects, so, cname, openmp=api.threaded)
        os.replace(so, out / so.name)
        os.replace(build / f"{cname}.h", out / f"{cname}.h")
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return LibraryInfo(name=cname, library=out / f"lib{cname}.so", header=out / f"{cname}.h", target=tgt,
                       inputs=api.inputs, outputs=api.outputs, targets=api.targets,
                       weights=api.state[:api.num_weights], has_train_step=api.train is not None,
                       weights_bytes=api.weights_bytes,
                       kernel_count=sum(m.kernel_count for m in modules))


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# lib<name>.so would shadow a system library that programs link with -l<name> (libm above all).
_SYSTEM_LIBS = frozenset({"c", "m", "dl", "rt", "pthread", "util", "resolv", "gcc", "gcc_s"})


def c_identifier(name: str, *, explicit: bool = True) -> str:
    """``name`` as the library's C prefix. An explicit name must already be one; a model's is cleaned."""
    if explicit:
        if not _IDENT.match(name):
            raise ValueError(f"A library name must be a C identifier (letters, digits, '_', not starting "
                             f"with a digit). Received: name={name!r}")
        if name in _SYSTEM_LIBS:
            raise ValueError(f"lib{name}.so would shadow the system library of that name: choose another "
                             f"name. Received: name={name!r}")
        return name
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name) or "model"
    return clean if _IDENT.match(clean) and clean not in _SYSTEM_LIBS else f"m_{clean}"


# -- from graphs to the C API's layout ------------------------------------------------------------

def _binding(param: Value) -> Any:
    if param.binding is None:
        raise LibraryBuildError(f"Parameter {param.name!r} has no bound value to embed in the library")
    return param.binding


def _lower(graphs: LibraryGraphs, cname: str) -> tuple[CApi, list[CompiledModule], bytes]:
    state, state_index, blob = _state_layout(graphs)
    forward = compile_graph(graphs.forward, f"{cname}__forward")
    _check_symbols(forward)
    input_index = {n: i for i, n in enumerate(graphs.input_names)}
    fwd_entry = Entry(forward.entry, _slots(forward, graphs.forward, state_index, lambda v: (
        SlotKind.INPUT, input_index[v.name]), outputs_visible=True), bool(graphs.forward.updates))
    inputs = tuple(TensorDecl(n, v.dtype, _user_shape(v)) for n, v in zip(graphs.input_names,
                                                                            graphs.forward.inputs))
    outputs = tuple(TensorDecl(n, v.dtype, _user_shape(v)) for n, v in zip(graphs.output_names,
                                                                             graphs.forward.outputs))
    modules = [forward]
    train_entry, targets, loss_slot, iterations = None, (), -1, -1
    if graphs.train_step is not None:
        g = graphs.train_step
        step = compile_graph(g, f"{cname}__train_step")
        _check_symbols(step)
        target_index = {f"{n}_target": i for i, n in enumerate(graphs.target_names)}
        fixed = {"sample_weight": SlotKind.SAMPLE_WEIGHT, "learning_rate": SlotKind.LEARNING_RATE,
                 "rng_key": SlotKind.RNG_KEY}

        def feed(v: Value) -> tuple[SlotKind, int]:
            if v.name in input_index:
                return SlotKind.INPUT, input_index[v.name]
            if v.name in target_index:
                return SlotKind.TARGET, target_index[v.name]
            if v.name in fixed:
                return fixed[v.name], 0
            raise LibraryBuildError(f"The train step has an input {v.name!r} that the C API cannot feed")

        train_entry = Entry(step.entry, _slots(step, g, state_index, feed, outputs_visible=False), True)
        loss = g.outputs[0]
        if loss.dtype.name != "float32" or loss.shape != ():
            raise LibraryBuildError(f"The train step's loss must be a float32 scalar; it is {loss.type}")
        loss_slot = next(i for i, b in enumerate(step.buffers) if b.role is BufferRole.OUTPUT)
        by_name = {v.name: v for v in g.inputs}
        targets = tuple(TensorDecl(f"{n}_target", by_name[f"{n}_target"].dtype,
                                   _user_shape(by_name[f"{n}_target"])) for n in graphs.target_names)
        if graphs.iterations is not None and id(graphs.iterations) in state_index:
            it = state[state_index[id(graphs.iterations)]]
            if it.dtype.name == "int64" and it.shape == ():
                iterations = state_index[id(graphs.iterations)]
        modules.append(step)
    api = CApi(name=cname, model_name=graphs.name, inputs=inputs, outputs=outputs, targets=targets,
               state=state, num_weights=len(graphs.weights), weights_bytes=len(blob), forward=fwd_entry,
               train=train_entry, train_loss_slot=loss_slot, iterations_state=iterations,
               seed=int(graphs.seed), learning_rate=float(graphs.learning_rate),
               batched="N" in forward.sym_names,
               threaded=any(uses_threads(m.llvm_ir) for m in modules))
    return api, modules, blob


def _state_layout(graphs: LibraryGraphs) -> tuple[tuple[StateDecl, ...], dict[int, int], bytes]:
    """Weights first (get_weights order), then other parameters of either graph, in one aligned blob."""
    bindings: list[Any] = []
    index: dict[int, int] = {}
    types: dict[int, Value] = {}
    for b in graphs.weights:
        if id(b) not in index:
            index[id(b)] = len(bindings)
            bindings.append(b)
    for g in (graphs.forward, graphs.train_step):
        for p in (g.params if g is not None else ()):
            b = _binding(p)
            types.setdefault(id(b), p)
            if id(b) not in index:
                index[id(b)] = len(bindings)
                bindings.append(b)
    decls, chunks, offset = [], [], 0
    for b in bindings:
        arr = np.asarray(b.numpy(), order="C")   # not ascontiguousarray: it makes 0-d arrays 1-d
        p = types.get(id(b))
        if p is not None and (arr.dtype != p.dtype.numpy or tuple(arr.shape) != tuple(p.shape)):
            raise LibraryBuildError(f"Parameter {p.name!r}: the graph expects {p.type}, its value is "
                                    f"{arr.dtype}{list(arr.shape)}")
        if arr.dtype == np.bool_:
            arr = arr.astype(np.int8)
        name = getattr(b, "path", None) or (p.name if p is not None else f"weight_{len(decls)}")
        decls.append(StateDecl(str(name), DType.from_any(arr.dtype), tuple(int(d) for d in arr.shape), offset))
        raw = arr.tobytes()
        pad = (-len(raw)) % ALIGN
        chunks.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    return tuple(decls), index, b"".join(chunks)


def _slots(module: CompiledModule, graph: Graph, state_index: dict[int, int], feed,
           outputs_visible: bool) -> tuple[Slot, ...]:
    """One Slot per table entry: inputs through ``feed``, params as state, the rest in the arena.

    Intermediates carry their lifetimes from the module's memory plan, so the
    wrapper places them with reuse, as the JIT runtime does.
    """
    slots, n_in, n_out, n_param = [], 0, 0, 0
    life = {b.slot: (b.first, b.last) for b in module.plan.buffers} if module.plan is not None else {}
    for i, spec in enumerate(module.buffers):
        if spec.role is BufferRole.INPUT:
            kind, index = feed(graph.inputs[n_in])
            n_in += 1
            # Without caller sample weights the wrapper writes ones into the arena: size that slot.
            slots.append(Slot(kind, index, *_size(spec)) if kind is SlotKind.SAMPLE_WEIGHT
                         else Slot(kind, index))
        elif spec.role is BufferRole.OUTPUT and outputs_visible:
            slots.append(Slot(SlotKind.OUTPUT, n_out))
            n_out += 1
        elif spec.role is BufferRole.PARAM:
            slots.append(Slot(SlotKind.STATE, state_index[id(_binding(graph.params[n_param]))]))
            n_param += 1
        else:
            slots.append(Slot(SlotKind.SCRATCH, 0, *_size(spec), *life.get(i, (-1, -1))))
    return tuple(slots)


def _size(spec: BufferSpec) -> tuple[int, int]:
    """``(bytes per batch ** power, power)`` of a buffer."""
    nbytes, power = spec.dtype.itemsize, 0
    for d in spec.shape:
        if d == BATCH:
            power += 1
        else:
            nbytes *= int(d)
    return nbytes, power


def _check_symbols(module: CompiledModule) -> None:
    extra = [s for s in module.sym_names if s != BATCH.name]
    if extra:
        raise LibraryBuildError(f"The C API has one run-time size, the batch; this graph also has "
                                f"symbolic dimension(s) {', '.join(extra)}")


def _user_shape(v: Value) -> tuple[int, ...]:
    for d in v.shape:
        if isinstance(d, SymDim) and d != BATCH:
            raise LibraryBuildError(f"{v.name!r} has symbolic dimension {d}: only the batch may vary")
    return tuple(-1 if d == BATCH else int(d) for d in v.shape)


# -- LLVM and the C toolchain ------------------------------------------------------------------

def _emit_object(module: CompiledModule, target: Target, opt_level: int) -> bytes:
    mod, tm = _optimized(module, target, opt_level)
    return tm.emit_object(mod)


def emit_assembly(module: CompiledModule, target: "str | Target | None" = None, opt_level: int = 3) -> str:
    """The assembly LLVM makes of ``module`` for ``target``: the code a library for it contains.

    For looking at what the vectorizer did (vector width, FMA) without a
    toolchain or a machine of that kind.
    """
    mod, tm = _optimized(module, resolve_target(target), opt_level)
    return tm.emit_assembly(mod)


def _optimized(module: CompiledModule, target: Target, opt_level: int) -> tuple[llvm.ModuleRef, llvm.TargetMachine]:
    from runtime.jit import optimize
    tm = target.target_machine(opt_level)
    mod = llvm.parse_assembly(module.llvm_ir)
    mod.triple = target.triple
    mod.data_layout = str(tm.target_data)
    # The entry is called by the C wrapper only: keep it out of the library's exports.
    mod.get_function(module.entry).visibility = "hidden"
    mod.verify()
    optimize(mod, tm, opt_level)
    return mod, tm


def _link(target: Target, wrapper: Path, objects: list[Path], so: Path, cname: str, *,
          openmp: bool = False) -> None:
    cmd = [target.c_compiler, "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-std=gnu11",
           "-static-libgcc", "-Wl,--no-undefined", "-Wl,-z,noexecstack", f"-Wl,-soname,lib{cname}.so",
           "-I", str(wrapper.parent), "-o", str(so), str(wrapper), *map(str, objects), "-lm",
           *(["-lgomp"] if openmp else [])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise LibraryBuildError(f"No C compiler {target.c_compiler!r} found to link lib{cname}.so for "
                                f"target {target.name}: install {target.toolchain}") from None
    if proc.returncode != 0:
        raise LibraryBuildError(f"Linking lib{cname}.so failed ({' '.join(cmd[:1])} exited with "
                                f"{proc.returncode}):\n{proc.stderr.strip()}")
