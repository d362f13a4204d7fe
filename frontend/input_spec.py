"""InputSpec: what a layer accepts, checked on every call with Keras' messages."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class InputSpec:
    ndim: int | None = None
    min_ndim: int | None = None
    max_ndim: int | None = None
    axes: dict[int, int] = field(default_factory=dict)
    shape: tuple | None = None
    dtype: str | None = None
    allow_last_axis_squeeze: bool = False
    name: str | None = None


def _fmt(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def assert_input_compatibility(specs, inputs, layer_name: str) -> None:
    """Raises ValueError naming the layer, the expectation and the received shape."""
    if specs is None:
        return
    specs = specs if isinstance(specs, (list, tuple)) else [specs]
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    for i, (spec, x) in enumerate(zip(specs, inputs)):
        if spec is None or not hasattr(x, "shape"):
            continue
        shape = tuple(x.shape)
        head = f'Input {i} of layer "{layer_name}" is incompatible with the layer: '
        if spec.ndim is not None and len(shape) != spec.ndim:
            raise ValueError(head + f"expected ndim={spec.ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")
        if spec.min_ndim is not None and len(shape) < spec.min_ndim:
            raise ValueError(head + f"expected min_ndim={spec.min_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")
        if spec.max_ndim is not None and len(shape) > spec.max_ndim:
            raise ValueError(head + f"expected max_ndim={spec.max_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")
        for axis, value in spec.axes.items():
            d = shape[axis] if -len(shape) <= axis < len(shape) else None
            if value is not None and d not in (value, None):
                raise ValueError(head + f"expected axis {axis} of input shape to have value {value}, "
                                 f"but received input with shape {_fmt(shape)}")
        if spec.shape is not None:
            if len(spec.shape) != len(shape) or any(
                    s is not None and d is not None and s != d for s, d in zip(spec.shape, shape)):
                raise ValueError(head + f"expected shape={_fmt(spec.shape)}, found shape={_fmt(shape)}")
