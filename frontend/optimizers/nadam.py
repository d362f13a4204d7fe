"""Nadam (Adam with Nesterov momentum, Dozat's momentum schedule), as ``keras.optimizers.Nadam``."""
from __future__ import annotations

import numpy as np

from frontend import backend, ops
from frontend.ops.core import Tensor
from frontend.optimizers.base_optimizer import Optimizer
from frontend.variables import Variable


class Nadam(Optimizer):
    """Momentum decays on the schedule ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``; the running product of
    the ``u_t`` is one more optimizer Variable (last in ``variables``, as in Keras)."""

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 weight_decay=None, name: str | None = None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list) -> None:
        if self.built:
            return
        dtype = var_list[0].dtype if var_list else backend.floatx()
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])
        self._u_product = self._new_variable(np.ones((), dtype), "u_product")

    def _backend_update_step(self, grads, variables, learning_rate) -> None:
        # The product advances once per step, before any variable's update reads it.
        dtype = self._u_product.dtype
        decay = ops.subtract(1.0, ops.multiply(0.5, ops.power(0.96, ops.cast(ops.add(self.iterations, 1), dtype))))
        self.assign(self._u_product, ops.multiply(ops.multiply(self._u_product, self.beta_1), decay))
        super()._backend_update_step(grads, variables, learning_rate)

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        local_step = ops.cast(ops.add(self.iterations, 1), dtype)
        next_step = ops.cast(ops.add(self.iterations, 2), dtype)
        decay = ops.cast(0.96, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        u_t = ops.multiply(beta_1, ops.subtract(1.0, ops.multiply(0.5, ops.power(decay, local_step))))
        u_t_1 = ops.multiply(beta_1, ops.subtract(1.0, ops.multiply(0.5, ops.power(decay, next_step))))
        u_product_t = ops.cast(self._u_product, dtype)
        u_product_t_1 = ops.multiply(u_product_t, u_t_1)
        beta_2_power = ops.power(beta_2, local_step)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), ops.subtract(1, beta_1)))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), ops.subtract(1, beta_2)))
        m_hat = ops.add(ops.divide(ops.multiply(u_t_1, m), ops.subtract(1, u_product_t_1)),
                        ops.divide(ops.multiply(ops.subtract(1, u_t), gradient), ops.subtract(1, u_product_t)))
        v_hat = ops.divide(v, ops.subtract(1, beta_2_power))
        self.assign_sub(variable, ops.divide(ops.multiply(m_hat, lr), ops.add(ops.sqrt(v_hat), self.epsilon)))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
