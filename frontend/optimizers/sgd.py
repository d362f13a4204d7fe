"""SGD with optional (Nesterov) momentum, as ``keras.optimizers.SGD``."""
from __future__ import annotations

from frontend import ops
from frontend.ops.core import Tensor
from frontend.optimizers.base_optimizer import Optimizer
from frontend.variables import Variable


class SGD(Optimizer):
    """``w -= lr * g``; with momentum ``v = momentum * v - lr * g; w += v``
    (Nesterov: ``w += momentum * v - lr * g``)."""

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, weight_decay=None,
                 name: str | None = None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, **kwargs)
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        # No slots without momentum: the variable count matches Keras' checkpoints.
        self.momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum != 0 else []

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, ops.multiply(gradient, lr))
            return
        m = self.momentums[self._get_variable_index(variable)]
        momentum = ops.cast(self.momentum, variable.dtype)
        self.assign(m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, lr)))
        if self.nesterov:
            self.assign_add(variable, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, lr)))
        else:
            self.assign_add(variable, m)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
