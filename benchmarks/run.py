"""Horn beside ONNX Runtime, Keras 3 on JAX and PyTorch: one run, one process per measurement.

    python benchmarks/run.py [--quick] [--models mlp,convnet_s,convnet_l]
        [--systems horn,onnxruntime,keras-jax,pytorch] [--threads 1,2]
        [--train-samples 60000] [--markdown PATH] [--update-readme]

For each thread count, model and system, a worker process (this file with
``--worker``) measures, after warm-up, the median of repeated runs of:
predict latency at batch 1 and throughput at batch 128 (Horn, ORT, Keras-JAX,
PyTorch); training throughput of a steady epoch over 60k MNIST-shaped samples,
batch 128, Adam (Horn, Keras-JAX, PyTorch); compile time (Horn: trace, passes
and codegen of the predict function and of the train step; Keras-JAX: the first
epoch's overhead; ORT: session creation); the worker's peak memory (ru_maxrss)
and Horn's arena. A GEMM worker per thread count times Horn's MATMUL against
numpy at 512^3, 1024^3 and 2048^3. Thread caps go in before each worker starts
(peers/common.thread_env). A peer that is not installed is skipped with a line
saying so. Prints tables of medians, Horn/peer ratios and issue 4's goals;
writes benchmarks/results/run.json (with the machine and every version).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from peers import report  # noqa: E402
from peers.common import DEFAULT_TRAIN_EPOCHS, MODELS, SYSTEMS, Settings, rss_mb, thread_env  # noqa: E402

README_BEGIN = "<!-- benchmarks:begin (python benchmarks/run.py --update-readme rewrites this part) -->"
README_END = "<!-- benchmarks:end -->"


# -- worker side ---------------------------------------------------------------------------------

def worker(system: str, model: str, settings: Settings, out: Path) -> None:
    """Measures one system on one model in this process and writes the result to ``out``."""
    module_name = "gemm_system" if system == "gemm" else SYSTEMS[system][0]
    t0 = time.perf_counter()
    base = rss_mb()["current_mb"]
    mod = importlib.import_module(f"peers.{module_name}")
    after_import = rss_mb()["current_mb"]
    result = mod.measure(model, settings)
    memory = result.setdefault("memory", {})
    end = rss_mb()
    memory.update(start_rss_mb=base, import_rss_mb=after_import, peak_rss_mb=end["peak_mb"])
    result["os_threads_at_end"] = end["os_threads"]
    record = {"system": system, "model": model, "threads": settings.threads, "status": "ok",
              "versions": mod.versions(), "result": result, "wall_s": time.perf_counter() - t0}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=_jsonable))
    os.replace(tmp, out)


def _jsonable(obj):
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)


# -- parent side ---------------------------------------------------------------------------------

def missing_packages(system: str) -> list[str]:
    if system == "gemm":
        return []
    return [p for p in SYSTEMS[system][1] if importlib.util.find_spec(p) is None]


def spawn(system: str, model: str, settings: Settings, tmp: Path, timeout: float) -> dict:
    """Runs one worker process under the thread caps of ``settings.threads``; its record or an error."""
    out = tmp / f"{system}-{model}-{settings.threads}.json"
    env = {**os.environ, **thread_env(settings.threads), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", system, "--model", model,
           "--settings", settings.to_json(), "--out", str(out)]
    t0 = time.perf_counter()
    base = {"system": system, "model": model, "threads": settings.threads}
    try:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "reason": f"timed out after {timeout:.0f} s",
                "wall_s": time.perf_counter() - t0}
    if proc.returncode != 0 or not out.exists():
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-12:]
        return {**base, "status": "error", "reason": tail[-1] if tail else f"exit status {proc.returncode}",
                "stderr_tail": tail, "wall_s": time.perf_counter() - t0}
    return json.loads(out.read_text())


def export_onnx_files(models: list[str], out_dir: Path, seed: int, timeout: float) -> tuple[dict, str | None]:
    """Horn exports each model to ONNX in a process of its own; the paths, or why it failed."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]);"
            "from peers.onnxruntime_system import export_models;"
            "print(json.dumps(export_models(sys.argv[2].split(','), sys.argv[3], int(sys.argv[4]))))")
    # ONNX files hold the unfused graph (ONNX Runtime fuses on its own); with fusion off, the
    # inference graph Horn traces for export has no fusion groups whatever the default level.
    disabled = ",".join(filter(None, [os.environ.get("HORN_DISABLE_PASSES", ""), "fusion"]))
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(HERE), ",".join(models), str(out_dir), str(seed)],
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HORN_DISABLE_PASSES": disabled})
    except subprocess.TimeoutExpired:
        return {}, "the ONNX export timed out"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {}, f"Horn's ONNX export failed: {lines[-1] if lines else proc.returncode}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def machine() -> dict:
    """The CPU, its vector features, the OS and the load, so numbers can be read in context."""
    info = {"os": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        text = Path("/proc/cpuinfo").read_text()
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        flags = set(fields.get("flags", "").split())
        info["cpu_model"] = fields.get("model name")
        info["cpu_family_model"] = f"family {fields.get('cpu family')}, model {fields.get('model')}"
        info["cpu_flags"] = {f: f in flags for f in ("avx2", "fma", "avx512f", "avx512vl", "avx512_bf16")}
    except OSError:
        info["cpu_model"] = platform.processor() or None
    try:
        import llvmlite.binding as llvm
        info["llvm_host_cpu"] = llvm.get_host_cpu_name()      # e.g. znver3: what Horn's codegen targets
    except Exception:                                         # llvmlite missing or too old
        pass
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["memory_gib"] = round(int(mem[1]) / 2 ** 20, 1)
    except (OSError, IndexError, ValueError):
        pass
    info["loadavg_start"] = list(os.getloadavg())
    return info


def git_state() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _csv(value: str, allowed, what: str) -> list:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if allowed is not None and v not in allowed]
    if bad or not items:
        expected = f"a comma-separated subset of {', '.join(allowed)}" if allowed else "a comma-separated list"
        raise SystemExit(f"--{what}: expected {expected}; received {value!r}")
    return items


def settings_from(args) -> Settings:
    s = Settings()
    if args.quick:
        s = replace(s, quick=True, repeats=3, min_repeat_s=0.002, warmup_s=0.0, train_samples=640,
                    train_epochs=1, warmup_samples=224, compile_repeats=0, gemm_sizes=(128,), gemm_repeats=2)
    if args.train_samples is not None:
        s = replace(s, train_samples=args.train_samples)
    if args.train_epochs is not None:
        s = replace(s, train_epochs=args.train_epochs)
    if args.repeats is not None:
        s = replace(s, repeats=args.repeats)
    if args.compile_repeats is not None:
        s = replace(s, compile_repeats=args.compile_repeats)
    if args.gemm_sizes is not None:
        s = replace(s, gemm_sizes=tuple(int(v) for v in _csv(args.gemm_sizes, None, "gemm-sizes")))
    if s.train_samples < 1 or (s.train_epochs is not None and s.train_epochs < 1) or s.repeats < 1:
        raise SystemExit("--train-samples, --train-epochs and --repeats must be positive")
    if s.compile_repeats < 0:
        raise SystemExit("--compile-repeats must be 0 or more")
    return s


def preamble(record: dict) -> str:
    m, s = record["machine"], record["settings"]
    flags = ", ".join(f.upper() for f in ("avx2", "fma", "avx512f") if (m.get("cpu_flags") or {}).get(f)) or "no AVX2"
    versions = "; ".join(f"{k} {v}" for k, v in sorted(record["versions"].items()))
    quick = " **Quick run (tiny repeats): not for comparison.**" if s["quick"] else ""
    epochs = s["train_epochs"] or ", ".join(f"{report.MODEL_LABELS[m]} {n}" for m, n in DEFAULT_TRAIN_EPOCHS.items()
                                           if m in record["models"])
    cores = m.get("usable_cores", m.get("cores")) or 1
    load = max(m["loadavg_start"][0], m.get("loadavg_end", [0])[0])
    busy = (f" The machine was shared (load average up to {load:.1f} on {cores} cores): compare ratios "
            f"measured in the same run, not absolute times." if load > 0.75 * cores else "")
    cpu = m.get("cpu_model") + (f" ({m['llvm_host_cpu']})" if m.get("llvm_host_cpu") else "")
    return (f"Measured {record['created']} on {cpu}, {cores} cores with {flags}, {m['os']}; load average "
            f"{m['loadavg_start'][0]:.1f} at the start, {m.get('loadavg_end', [float('nan')])[0]:.1f} at the end.{busy} "
            f"Horn at {record['git'].get('commit')}{' with uncommitted changes' if record['git'].get('uncommitted_changes') else ''}. "
            f"Training: {s['train_samples']} MNIST-shaped samples per epoch, median of {epochs} "
            f"steady epoch(s); predict: median of {s['repeats']} repeats.{quick} Versions: {versions}.")


def update_readme(md: str) -> None:
    """Replaces the README's text between the benchmark markers with ``md``."""
    path = ROOT / "README.md"
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"README.md has no benchmark markers; add the two lines\n{README_BEGIN}\n{README_END}")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(head + README_BEGIN + "\n" + md.rstrip() + "\n" + README_END + tail)
    os.replace(tmp, path)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--quick", action="store_true", help="tiny sizes and repeats: a smoke run, not a measurement")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated, from " + ", ".join(MODELS))
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, from " + ", ".join(SYSTEMS))
    p.add_argument("--threads", default="1,2", help="thread counts to run every system with (default 1,2)")
    p.add_argument("--train-samples", type=int, help="samples per training epoch (default 60000)")
    p.add_argument("--train-epochs", type=int, help="steady-state epochs timed (default: MLP 3, convnet-S 2, "
                                                    "convnet-L 1)")
    p.add_argument("--repeats", type=int, help="timed repeats per predict measurement (default 15)")
    p.add_argument("--compile-repeats", type=int, help="Horn compiles timed after the cold one (default 2)")
    p.add_argument("--gemm-sizes", help="comma-separated square sizes (default 512,1024,2048)")
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM measurement")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds one worker may take (default 3600)")
    p.add_argument("--json", type=Path, default=HERE / "results" / "run.json", help="where the results go")
    p.add_argument("--markdown", type=Path, help="also write the tables as markdown here")
    p.add_argument("--update-readme", action="store_true", help="put the markdown tables into README.md")
    p.add_argument("--from-json", type=Path, help="measure nothing: print (and --markdown / --update-readme) "
                                                 "the tables of an earlier run's JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--settings", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return p


def available(systems: list[str], record: dict) -> list[str]:
    """The systems whose packages are installed; the others are skipped with a line saying why."""
    active = []
    for system in systems:
        missing = missing_packages(system)
        if missing:
            why = f"{', '.join(missing)} not installed (pip install -e '.[bench]')"
            print(f"skipping {system}: {why}", flush=True)
            record["skipped"][system] = why
        else:
            active.append(system)
    return active


def run_all(record: dict, active: list[str], settings: Settings, args) -> Settings:
    """Every worker, thread count by thread count, model by model, system by system."""
    with tempfile.TemporaryDirectory(prefix="horn-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "onnxruntime" in active:
            files, why = export_onnx_files(record["models"], tmp, settings.seed, args.timeout)
            if why:
                print(f"skipping onnxruntime: {why}", flush=True)
                record["skipped"]["onnxruntime"] = why
                active.remove("onnxruntime")
            settings = replace(settings, extra={"onnx_files": files})
        jobs = [(n, m, s) for n in record["threads"] for m in record["models"] for s in active]
        if "horn" in active and not args.no_gemm and settings.gemm_sizes:
            jobs += [(n, "-", "gemm") for n in record["threads"]]
        for n, model, system in jobs:
            run = spawn(system, model, replace(settings, threads=n), tmp, args.timeout)
            status = run["status"] if run["status"] == "ok" else f"ERROR: {run.get('reason')}"
            print(f"{system:<12} {model:<10} {n} thread{'s' if n > 1 else ' '}  {run.get('wall_s', 0):7.1f} s  "
                  f"{status}", flush=True)
            record["versions"].update(run.pop("versions", {}))
            if system == "gemm" and run["status"] == "ok":
                record["gemm"] += [{**row, "threads": n} for row in run["result"]["gemm"]]
            else:
                record["runs"].append(run)
            save(record, args.json)          # an interrupted run keeps what it measured
    return settings


def save(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=_jsonable) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.worker:
        worker(args.worker, args.model, Settings.from_json(args.settings), args.out)
        return 0
    if args.from_json:
        record = json.loads(args.from_json.read_text())
        publish(record, Settings.from_json(json.dumps(record["settings"])), args)
        return 0
    models = _csv(args.models, MODELS, "models")
    systems = _csv(args.systems, list(SYSTEMS), "systems")
    try:
        threads = [int(t) for t in _csv(args.threads, None, "threads")]
    except ValueError:
        raise SystemExit(f"--threads: expected comma-separated positive integers; received {args.threads!r}")
    if any(t < 1 for t in threads):
        raise SystemExit(f"--threads: expected positive integers; received {args.threads!r}")
    settings = settings_from(args)
    record = {"schema": 1, "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["python", "benchmarks/run.py"] + (argv if argv is not None else sys.argv[1:])),
              "machine": machine(), "git": git_state(), "settings": json.loads(settings.to_json()),
              "systems": systems, "models": models, "threads": threads, "versions": {"numpy": np.__version__},
              "complete": False, "skipped": {}, "runs": [], "gemm": []}
    m = record["machine"]
    print(f"{m.get('cpu_model')} ({m.get('llvm_host_cpu')}), {m.get('usable_cores')} cores, "
          f"load {m['loadavg_start'][0]:.1f}" + ("; quick run" if settings.quick else ""), flush=True)
    settings = run_all(record, available(systems, record), settings, args)

    m["loadavg_end"] = list(os.getloadavg())
    record["goals"] = [vars(g) | {"verdict": g.verdict()}
                       for g in report.goals(record["runs"], record["gemm"], settings.batch)]
    record["complete"] = True
    save(record, args.json)
    publish(record, settings, args)
    print(f"wrote {args.json}")
    return 1 if any(r["status"] != "ok" for r in record["runs"]) else 0


def publish(record: dict, settings: Settings, args) -> None:
    """Prints the tables; writes them as markdown and into the README when asked."""
    m = record["machine"]
    print()
    print(report.text(record["runs"], record["gemm"], settings.batch))
    end = m.get("loadavg_end", [float("nan")])[0]
    print(f"\nload average {m['loadavg_start'][0]:.1f} at the start, {end:.1f} at the end"
          + (" (a busy machine: read ratios, not absolute times)" if end > 1.5 else ""))
    if args.markdown or args.update_readme:
        md = report.markdown(record["runs"], record["gemm"], settings.batch, preamble(record))
        if args.markdown:
            args.markdown.write_text(md)
            print(f"wrote {args.markdown}")
        if args.update_readme:
            update_readme(md)
            print("updated README.md")


if __name__ == "__main__":
    sys.exit(main())
