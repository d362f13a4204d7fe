"""``keras.callbacks.BackupAndRestore``: resume an interrupted ``fit`` where it stopped."""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from frontend.callbacks.callback import Callback, Logs


def _atomic_write_bytes(path: str, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class BackupAndRestore(Callback):
    """Backs up the weights and the epoch reached into ``backup_dir``; restores them at the next
    ``fit``'s start so training resumes at the right epoch.

    Layout (Keras'): ``latest.weights.h5`` written by ``model.save_weights`` (it
    holds the optimizer's state too) and ``training_metadata.json`` holding
    ``{"epoch": e, "batch": b}``. A model without ``save_weights``/``load_weights``
    is backed up as ``latest.weights.npz`` from ``get_weights()`` instead (model
    weights only). After ``on_train_begin`` restored a backup, ``resume_epoch``
    is the epoch to start from; ``CallbackList.initial_epoch_override`` carries
    it to the trainer.

    Args:
        backup_dir: where the backup lives; must not be shared between runs.
        save_freq: "epoch", or an integer: back up every that many batches.
        double_checkpoint: keep the previous backup as ``*.bkp`` and fall back to it
            when the latest cannot be read.
        delete_checkpoint: remove ``backup_dir`` when training finishes normally.
    """

    def __init__(self, backup_dir, save_freq: str | int = "epoch", double_checkpoint: bool = False,
                 delete_checkpoint: bool = True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool)):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq={save_freq}. "
                             "Expected either 'epoch' or an integer value.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self.resume_epoch: int | None = None
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")

    # -- where the weights go -----------------------------------------------
    def _uses_keras_weights(self) -> bool:
        return hasattr(self.model, "save_weights") and hasattr(self.model, "load_weights")

    @property
    def _weights_path(self) -> str:
        name = "latest.weights.h5" if self._uses_keras_weights() else "latest.weights.npz"
        return os.path.join(self.backup_dir, name)

    def _write_weights(self, path: str) -> None:
        if self._uses_keras_weights():
            self.model.save_weights(path, overwrite=True)
            return
        import io
        buf = io.BytesIO()
        np.savez(buf, *self.model.get_weights())
        _atomic_write_bytes(path, buf.getvalue())

    def _read_weights(self, path: str) -> None:
        if self._uses_keras_weights():
            self.model.load_weights(path)
            return
        try:
            with np.load(path, allow_pickle=False) as f:
                weights = [f[f"arr_{i}"] for i in range(len(f.files))]
        except (ValueError, KeyError, EOFError) as exc:  # zipfile/npy damage surfaces as these
            raise OSError(f"Cannot read backup {path}: {exc}") from exc
        self.model.set_weights(weights)

    # -- restore --------------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.resume_epoch = None
        self._current_epoch = 0
        try:
            self._load()
        except OSError:
            prev = self._weights_path + ".bkp"
            if not os.path.exists(prev):
                raise
            shutil.copyfile(prev, self._weights_path)
            if os.path.exists(self._metadata_path + ".bkp"):
                shutil.copyfile(self._metadata_path + ".bkp", self._metadata_path)
            elif os.path.exists(self._metadata_path):
                os.remove(self._metadata_path)
            self._load()

    def _load(self) -> None:
        if not getattr(self.model, "built", True):
            raise ValueError("To use the BackupAndRestore callback, your model must be built before you "
                             f"call `fit()`. Model {self.model} is unbuilt. You can build it beforehand "
                             "by calling it on a batch of data.")
        if os.path.exists(self._weights_path):
            self._read_weights(self._weights_path)
        if os.path.exists(self._metadata_path):
            with open(self._metadata_path) as f:
                try:
                    meta = json.load(f)
                except json.JSONDecodeError as exc:
                    raise OSError(f"Cannot read {self._metadata_path}: {exc}") from exc
            self.resume_epoch = int(meta["epoch"])
            self._current_epoch = self.resume_epoch

    # -- back up ----------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch  # a mid-epoch backup resumes this epoch (fit may start late)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch + 1  # a finished epoch resumes at the next one
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save()  # mid-epoch: resuming restarts this epoch from these weights

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:
            added = batch + 1
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save(self) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = self._weights_path
        if self.double_checkpoint:
            for path in (weights, self._metadata_path):
                if os.path.exists(path):
                    shutil.copyfile(path, path + ".bkp")
        self._write_weights(weights)
        meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        _atomic_write_bytes(self._metadata_path, json.dumps(meta).encode())

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
