"""The systems ``benchmarks/run.py`` measures, one module each, run in worker processes.

Each ``<system>_system.py`` module defines ``measure(model_name, settings) -> dict`` and
``versions() -> dict``; ``common`` holds the timing, data and memory helpers they share,
and ``report`` turns the collected results into tables, goal verdicts and markdown.
"""
