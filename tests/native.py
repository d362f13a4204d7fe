"""Building and running tests/c/horn_driver.c against a Horn library (see that file for its modes)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

DRIVER = Path(__file__).parent / "c" / "horn_driver.c"


def c_compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc"))


def build_driver(library: Path, name: str, out_dir: Path, *, compiler: str | None = None) -> Path:
    """Compiles the driver against ``lib<name>.so`` and its header; warnings are errors.

    ``compiler`` (default: the host's ``$CC``) may be a cross compiler, for a
    library built for another target.
    """
    exe = out_dir / f"driver_{name}"
    cmd = [compiler or c_compiler() or "cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread",
           f"-DHORN_LIB={name}", f"-DHORN_LIB_UPPER={name.upper()}", f'-DHORN_HEADER="{name}.h"',
           "-I", str(library.parent), "-o", str(exe), str(DRIVER), "-L", str(library.parent), f"-l{name}",
           f"-Wl,-rpath,{library.parent.resolve()}"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def run_driver(exe: Path, *args, check: bool = True, runner: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Runs the driver; ``runner`` prefixes the command (an emulator such as qemu-user for a cross build)."""
    proc = subprocess.run([*runner, str(exe), *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{exe.name} {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr}")
    return proc


def write_tensors(path: Path, arrays) -> Path:
    """The driver's file format: the arrays' bytes one after another."""
    with open(path, "wb") as f:
        for a in arrays:
            f.write(np.ascontiguousarray(a).tobytes())
    return path
