"""``keras.callbacks.TerminateOnNaN``."""
from __future__ import annotations

import math

from frontend.callbacks.callback import Callback, Logs


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite.

    With ``raise_error=True`` it raises instead of setting ``model.stop_training``.
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
