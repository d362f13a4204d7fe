"""PyTorch (eager, CPU): the seed models written by hand with the same layer shapes, in NCHW.

The data are the same arrays as the other systems', transposed once from NHWC
to NCHW (PyTorch's native convolution layout). Predict runs the model under
``torch.inference_mode`` with a softmax at the end, as the Keras models have.
Training is the plain loop a PyTorch user writes: shuffled index batches, the
logits into ``cross_entropy`` (softmax + log-loss in one, PyTorch's idiom for
Keras' softmax output + sparse categorical crossentropy), ``backward``, Adam.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from peers.common import Settings, is_conv, log, mnist_like, time_call, timed, train_epochs, train_summary


def versions() -> dict:
    return {"torch": torch.__version__}


def build(model_name: str) -> nn.Sequential:
    """Logits of the seed model ``model_name`` (see tests/models/seed_models.py)."""
    if model_name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, 10))
    if model_name == "convnet_s":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),       # 26x26x32 -> 13x13
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),      # 11x11x64 -> 5x5
            nn.Flatten(), nn.Linear(5 * 5 * 64, 128), nn.ReLU(), nn.Linear(128, 10))
    if model_name == "convnet_l":
        return nn.Sequential(
            nn.Conv2d(1, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(),      # 26, 24
            nn.MaxPool2d(2),                                                      # 12
            nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Conv2d(128, 128, 3), nn.ReLU(),  # 10, 8
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(128, 10))
    raise ValueError(f"unknown model {model_name!r}; expected mlp, convnet_s or convnet_l")


def _torch_data(x: np.ndarray, model_name: str) -> torch.Tensor:
    if is_conv(model_name):
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))    # NHWC -> NCHW
    return torch.from_numpy(x)


def measure(model_name: str, s: Settings) -> dict:
    torch.set_num_threads(s.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(s.seed)
    model = build(model_name)
    model.eval()
    x1 = _torch_data(mnist_like(1, model_name, s.seed)[0], model_name)
    xb = _torch_data(mnist_like(s.batch, model_name, s.seed + 1)[0], model_name)

    def predict(x):
        with torch.inference_mode():
            return torch.softmax(model(x), dim=-1).numpy()

    log(f"pytorch {model_name}: predict")
    result = {"predict_path": "torch.inference_mode(): model(x)",
              "predict": {"b1": time_call(lambda: predict(x1), s),
                          f"b{s.batch}": time_call(lambda: predict(xb), s)}}

    log(f"pytorch {model_name}: train")
    x_np, y_np = mnist_like(s.train_samples, model_name, s.seed + 2)
    x, y = _torch_data(x_np, model_name), torch.from_numpy(y_np.astype(np.int64))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(xs: torch.Tensor, ys: torch.Tensor) -> None:
        order = torch.randperm(len(xs))
        for i in range(0, len(xs), s.batch):
            idx = order[i:i + s.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()

    w = min(s.warmup_samples, len(x))
    first, _ = timed(lambda: epoch(x[:w], y[:w]))
    epoch_seconds = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(train_epochs(model_name, s)):
        seconds, _ = timed(lambda: epoch(x, y))
        epoch_seconds.append(seconds)
    result["train"] = train_summary(epoch_seconds, len(x), first, w)
    result["train"]["cpu_per_wall"] = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return result
