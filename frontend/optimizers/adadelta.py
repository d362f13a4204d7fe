"""Adadelta, as ``keras.optimizers.Adadelta``."""
from __future__ import annotations

from frontend import ops
from frontend.ops.core import Tensor
from frontend.optimizers.base_optimizer import Optimizer
from frontend.variables import Variable


class Adadelta(Optimizer):
    """Per-coordinate steps from moving RMS of gradients and of past updates:
    ``delta = -rms(acc_delta) * g / rms(acc_grad)``, ``w += lr * delta``."""

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7, weight_decay=None,
                 name: str | None = None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, grad: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        grad = ops.cast(grad, variable.dtype)
        rho = self.rho
        index = self._get_variable_index(variable)
        accumulated_grad = self._accumulated_grads[index]
        accumulated_delta_var = self._accumulated_delta_vars[index]

        def rms(x):
            return ops.sqrt(ops.add(x, self.epsilon))

        self.assign(accumulated_grad, ops.add(ops.multiply(rho, accumulated_grad),
                                              ops.multiply(1 - rho, ops.square(grad))))
        delta_var = ops.negative(ops.divide(ops.multiply(rms(accumulated_delta_var), grad),
                                            rms(accumulated_grad)))
        self.assign(accumulated_delta_var, ops.add(ops.multiply(rho, accumulated_delta_var),
                                                   ops.multiply(1 - rho, ops.square(delta_var))))
        self.assign_add(variable, ops.multiply(lr, delta_var))

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
