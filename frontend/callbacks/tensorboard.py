"""``keras.callbacks.TensorBoard``: scalar (and histogram) event files TensorBoard reads.

Files are written by tensorboardX (the optional ``tensorboard`` extra), in
Keras' layout: ``<log_dir>/train`` and ``<log_dir>/validation``, tags
``epoch_<metric>`` stepped by epoch, ``batch_<metric>`` stepped by the global
batch count when ``update_freq`` is "batch" or an integer, and
``evaluation_<metric>_vs_iterations`` after each evaluation when the optimizer
counts its iterations.
"""
from __future__ import annotations

import os
import time

import numpy as np

from frontend.callbacks.callback import Callback, Logs


def _summary_writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError("The TensorBoard callback writes event files with the `tensorboardX` package, "
                          "which is not installed. Install it with `pip install tensorboardX` "
                          "(or `pip install horn[tensorboard]`).") from exc
    return SummaryWriter


class TensorBoard(Callback):
    """Logs metrics for TensorBoard.

    Args:
        log_dir: the root folder of the event files.
        histogram_freq: every this many epochs, a histogram of each weight (0: never).
        write_graph: accepted for Keras compatibility; Horn's graphs are not
            TensorFlow graphs, so no graph is written.
        write_images, profile_batch, embeddings_freq, embeddings_metadata:
            Keras features Horn does not provide; a value other than the default
            raises, rather than silently writing nothing.
        write_steps_per_second: also log training steps per second.
        update_freq: "epoch", "batch", or an integer: write ``batch_*`` scalars
            every that many batches.
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq: str | int = "epoch", profile_batch: int = 0, embeddings_freq: int = 0,
                 embeddings_metadata=None):
        super().__init__()
        self._writer_cls = _summary_writer_class()
        if write_images:
            raise ValueError("TensorBoard(write_images=True) is not supported by Horn; pass "
                             "histogram_freq to log weight distributions instead.")
        if profile_batch:
            raise ValueError("Profiling is not available in Horn. Received: profile_batch="
                             f"{profile_batch} (must be 0)")
        if embeddings_freq or embeddings_metadata:
            raise ValueError("TensorBoard embeddings (embeddings_freq, embeddings_metadata) are not "
                             "supported by Horn.")
        if update_freq != "epoch" and update_freq != "batch" and (
                not isinstance(update_freq, int) or isinstance(update_freq, bool) or update_freq < 1):
            raise ValueError("`update_freq` must be 'epoch', 'batch' or a positive integer. "
                             f"Received: update_freq={update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._writers: dict = {}
        self._global_train_batch = 0
        self._epoch_batches = 0
        self._epoch_start = 0.0
        self._batch_start = 0.0

    # -- writers ------------------------------------------------------------
    def _writer(self, which: str):
        # Created on first use, so a run that logs nothing leaves no empty event files.
        if which not in self._writers:
            logdir = self._train_dir if which == "train" else self._val_dir
            self._writers[which] = self._writer_cls(logdir=logdir)
        return self._writers[which]

    def _scalar(self, which: str, tag: str, value, step: int) -> None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return  # not a scalar (e.g. a per-class metric): TensorBoard scalars cannot show it
        self._writer(which).add_scalar(tag, value, global_step=int(step))

    def _flush(self) -> None:
        for w in self._writers.values():
            w.flush()

    def _close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}

    # -- hooks ----------------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._global_train_batch = 0

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch_batches = 0
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._global_train_batch += 1
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._epoch_batches += 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        step = self._global_train_batch
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._batch_start
            if elapsed > 0:
                self._scalar("train", "batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, step)

    def on_test_end(self, logs: Logs | None = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None) if optimizer is not None else None
        if iterations is None or not logs:
            return
        step = int(np.asarray(iterations))
        for name, value in logs.items():
            self._scalar("val", f"evaluation_{name}_vs_iterations", value, step)
        self._flush()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate") and "learning_rate" not in train:
            try:
                train["learning_rate"] = float(np.asarray(optimizer.learning_rate))
            except (TypeError, ValueError):
                pass  # a schedule object with no current value to show
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start
            if elapsed > 0:
                train["steps_per_second"] = self._epoch_batches / elapsed
        for name, value in train.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in val.items():
            self._scalar("val", f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        self._flush()  # TensorBoard can show the epoch while training goes on

    def _log_weights(self, epoch: int) -> None:
        for w in getattr(self.model, "weights", None) or []:
            name = (getattr(w, "path", None) or getattr(w, "name", "weight")).replace(":", "_")
            self._writer("train").add_histogram(f"{name}/histogram", np.asarray(w), global_step=epoch)
