"""LLVM work of one module on two cores: half of its functions compiled in a forked process.

LLVM spends its time function by function (the kernels are ``noinline`` and
share nothing but declarations), and llvmlite serializes every call through one
lock, so threads cannot share the work; a forked child can. :func:`split` cuts
the module text into two modules of about equal size: the first keeps the entry
function, the second gets the rest of the kernels, each holding the globals,
declarations and metadata of the original plus ``declare`` lines for the
functions the other half defines. Defined functions lose ``internal`` linkage so
that MCJIT can resolve calls between the halves; each engine has its own symbol
table, so names never meet another library's.

:class:`SideCompile` forks, and the child optimizes its half, generates its
object file and sends it back through a pipe; the parent compiles its own half
meanwhile and adds the child's object to its engine. A child that fails or
hangs costs only the parallelism: the parent compiles that half itself.

Off by default (``HORN_JIT_WORKERS=2`` turns it on, for modules big enough to
pay for a fork). Measured on the 2-vCPU development machine (convnet-S train
step, benchmarks/compile_time.py): the halves cost 1.5 + 1.5 s of CPU against
2.25 s for the whole module in one process (each half carries all globals and
metadata, and external linkage keeps LLVM from specializing kernels on their one
call site), and the two vCPUs share one core's capacity, so the wall clock did
not improve (2.3 s both ways, worse under load). It may pay on machines with
real cores to spare; measure before turning it on.
"""
from __future__ import annotations

import os
import re
import select
import signal
import struct
import time

import llvmlite.binding as llvm

WORKERS_ENV = "HORN_JIT_WORKERS"
MIN_SPLIT_CHARS = 200_000          # below this (a small model's predict), one process is faster
CHILD_TIMEOUT_S = 600.0

_DEFINE_HEAD = re.compile(r'define (internal )?([^\n@]*?)@"([^"]+)"\((.*?)\)[^\n]*\n\{\n')
_DEFINE_START = re.compile(r'^define ', re.M)


class _Define:
    """One function definition of the module text: ``group(i)`` as a match of
    ``define (internal )?<ret> @"<name>"(<params>)`` would give, ``group(0)`` the whole text."""

    __slots__ = ("text", "head", "start_", "end_")

    def __init__(self, text: str, head: re.Match, start: int, end: int):
        self.text, self.head, self.start_, self.end_ = text, head, start, end

    def group(self, i: int):
        return self.text[self.start_:self.end_] if i == 0 else self.head.group(i)

    def start(self) -> int:
        return self.start_

    def end(self) -> int:
        return self.end_


def _defines(llvm_ir: str) -> list[_Define]:
    """The function definitions, found with str.find (a DOTALL regex over megabytes of
    text took 0.1 s): a body ends at the first line holding only ``}``."""
    out = []
    for m in _DEFINE_START.finditer(llvm_ir):
        head = _DEFINE_HEAD.match(llvm_ir, m.start())
        end = llvm_ir.find("\n}\n", m.start())
        if head is None or end < 0:
            raise ValueError(f"cannot read the function definition at offset {m.start()}")
        out.append(_Define(llvm_ir, head, m.start(), end + 3))
    return out
_GLOBAL = re.compile(r'^@"?[^\n]*? = (?!internal |private |external )', re.M)


def workers() -> int:
    """Processes LLVM may use for one module: ``HORN_JIT_WORKERS``, else 1 (no split)."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a positive integer. Received: {env!r}") from None
        if n < 1:
            raise ValueError(f"{WORKERS_ENV} must be a positive integer. Received: {env!r}")
        return n
    return 1


def split(llvm_ir: str, entry_names: set[str] | None = None) -> tuple[str, str] | None:
    """(first half with the rest of the module, second half), or None when the module is
    small, has fewer than two functions, or defines a global that is not internal (two
    objects would then both define it)."""
    if len(llvm_ir) < MIN_SPLIT_CHARS or not hasattr(os, "fork"):
        return None
    defines = _defines(llvm_ir)
    if len(defines) < 2:
        return None
    rest, at = [], 0
    for m in defines:
        rest.append(llvm_ir[at:m.start()])
        at = m.end()
    rest = "".join(rest) + llvm_ir[at:]
    if _GLOBAL.search(rest):
        return None
    # Kernels and their workers (k_x, k_x.par0, k_x.par0.omp0) stay together.
    groups: dict[str, list[_Define]] = {}
    for m in defines:
        groups.setdefault(re.sub(r"(\.par\d+|\.omp\d+)+$", "", m.group(3)), []).append(m)
    sized = sorted(groups.items(), key=lambda kv: -sum(len(m.group(0)) for m in kv[1]))
    halves: list[list[_Define]] = [[], []]
    load = [0, 0]
    for base, ms in sized:
        # The entry (not a kernel: no k_ prefix) stays in the first half, with the parent.
        side = 0 if not base.startswith("k_") else (0 if load[0] <= load[1] else 1)
        halves[side].extend(ms)
        load[side] += sum(len(m.group(0)) for m in ms)
    if not halves[1] or not halves[0]:
        return None
    return _module(rest, halves[0], halves[1]), _module(rest, halves[1], halves[0])


def _module(rest: str, mine: list[_Define], theirs: list[_Define]) -> str:
    body = "".join(_external(m) for m in mine)
    decls = [f'declare {m.group(2).strip()} @"{m.group(3)}"({_param_types(m.group(4))})'
             for m in theirs if f'@"{m.group(3)}"' in body]
    return rest + "\n" + "\n".join(decls) + "\n" + body


def _external(m: _Define) -> str:
    from codegen.cpu.lowerings.linalg import SHARED_PREFIX
    text = m.group(0)
    # The shared GEMM stays internal: runtime.jit._link_shared replaces it by the one copy
    # per process, which the other half reaches through the process-wide symbol.
    if not m.group(1) or m.group(3).startswith(SHARED_PREFIX):
        return text
    return "define " + text[len("define internal "):]


def _param_types(params: str) -> str:
    return ", ".join(p.split()[0] for p in params.split(",") if p.strip())


class SideCompile:
    """One half compiled in a forked child; :meth:`result` gives (object file, optimized IR)."""

    def __init__(self, llvm_ir: str, opt_level: int):
        self.llvm_ir, self.opt_level = llvm_ir, opt_level
        self.pid = None
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:                       # the child: compile, send, leave without cleanup
            code = 1
            try:
                os.close(read)
                obj, ir = compile_object(llvm_ir, opt_level)
                data = struct.pack("<QQ", len(obj), len(ir.encode())) + obj + ir.encode()
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view):]
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self._read = pid, read

    def result(self) -> tuple[bytes, str]:
        """Waits for the child; compiles the half here if the child failed or timed out."""
        chunks, deadline = [], time.monotonic() + CHILD_TIMEOUT_S
        try:
            while True:
                ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    os.kill(self.pid, signal.SIGKILL)
                    break
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._read)
            _, status = os.waitpid(self.pid, 0)
        data = b"".join(chunks)
        if os.waitstatus_to_exitcode(status) == 0 and len(data) >= 16:
            n_obj, n_ir = struct.unpack("<QQ", data[:16])
            if len(data) == 16 + n_obj + n_ir:
                return data[16:16 + n_obj], data[16 + n_obj:].decode()
        return compile_object(self.llvm_ir, self.opt_level)


def compile_object(llvm_ir: str, opt_level: int) -> tuple[bytes, str]:
    """(object file, optimized IR) of a module for this process's JIT, through the cache."""
    from runtime import compile_cache
    from runtime.jit import host_target_machine, llvm_pipeline, optimize
    tm = host_target_machine(opt_level)
    key = None
    if compile_cache.get_cache_dir() is not None:
        key = compile_cache.cache_key(llvm_ir, opt_level, tm, f"pipeline={llvm_pipeline()};object")
        hit = compile_cache.load(key)
        if hit is not None:
            return hit
    mod = llvm.parse_assembly(llvm_ir)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    optimize(mod, tm, opt_level)
    ir = str(mod)
    obj = tm.emit_object(mod)
    if key is not None:
        compile_cache.store(key, obj, ir)
    return obj, ir
