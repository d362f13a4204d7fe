"""``Model``: a Layer that is traced whole and run as compiled native code.

Calling a model on arrays (``model(x)``, ``predict``, ``predict_on_batch``)
traces it once per (mode, input signature) into an ``ir.Graph`` whose batch
dimension is symbolic, runs the pass pipeline, compiles the graph to one
native function, and caches that executable: batch 1 and batch 10000 use the
same code. ``keras.Model(inputs=..., outputs=...)`` returns a Functional model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frontend.backend import floatx
from frontend.input_spec import InputSpec, assert_input_compatibility
from frontend.layer import Layer, flatten, map_structure
from frontend.tensors import KerasTensor, TracedTensor
from frontend.tracing import Tracer, tracing
from frontend.models.trainer import Trainer
from runtime.compile import configured_level


@dataclass(frozen=True)
class InputSignature:
    """What an executable is specialized on: per input, dtype and non-batch dims."""

    specs: tuple[tuple[str, tuple], ...]   # (dtype, shape with None batch)


class Model(Trainer, Layer):
    """Base of Sequential, Functional and user-subclassed models."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and ("inputs" in kwargs or len(args) >= 2):
            from frontend.models.functional import Functional
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, **kwargs):
        # Model(inputs=..., outputs=...) never gets here: __new__ made a Functional,
        # and Python runs Functional.__init__ on it.
        super().__init__(**kwargs)
        self._executables: dict = {}

    # -- structure --------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._sublayers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has "
                                 f"{len(self.layers)} layers.")
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in self.layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def build(self, input_shape) -> None:
        """Builds a subclassed model by tracing it once on symbolic inputs of ``input_shape``."""
        if self.built:
            return
        tracer = Tracer(f"{self.name}_build")
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        proxies = [tracer.input(tuple(s), floatx(), f"input_{i}") for i, s in enumerate(shapes)]
        with tracing(tracer):
            Layer.__call__(self, proxies if isinstance(input_shape, list) else proxies[0])
        self.built = True

    def _maybe_build(self, first_arg) -> None:
        # A model's sublayers build themselves as they are called during the trace.
        self.built = True

    # -- calling ----------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if any(isinstance(x, (KerasTensor, TracedTensor)) for x in flatten((args, kwargs))):
            return super().__call__(*args, **kwargs)
        training = bool(kwargs.pop("training", False))
        kwargs.pop("mask", None)
        if kwargs or len(args) != 1:
            raise TypeError(f"Model '{self.name}' takes its inputs as one positional argument "
                            f"(an array, a list or a dict); received {len(args)} positional and "
                            f"keyword arguments {sorted(kwargs)}")
        return self._run(args[0], training=training)

    def _standardize_inputs(self, x) -> tuple[object, list[np.ndarray]]:
        """The call structure and its flat arrays, converted to the dtypes the model expects."""
        def conv(a):
            a = np.asarray(a)
            return a.astype(floatx()) if a.dtype == np.float64 else a
        structure = map_structure(conv, x)
        return structure, flatten(structure)

    def _signature(self, arrays: list[np.ndarray]) -> InputSignature:
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"Input {i} of model '{self.name}' must have a batch dimension; "
                                 f"received a scalar")
        declared = self._declared_shapes("inputs", len(arrays))
        return InputSignature(tuple((a.dtype.name, run_shape(a, declared[i] if declared else None))
                                    for i, a in enumerate(arrays)))

    def _declared_shapes(self, which: str, n: int) -> list[tuple] | None:
        """The shapes the model declares for its ``inputs`` or ``outputs`` (Input(...) and what
        follows from it), or None when it declares none (a subclassed model) or not ``n``."""
        try:
            tensors = getattr(self, which)
        except (AttributeError, TypeError, ValueError):
            return None
        if not isinstance(tensors, (list, tuple)) or len(tensors) != n:
            return None
        return [tuple(getattr(t, "shape", ())) for t in tensors]

    def _executable(self, structure, signature: InputSignature, training: bool):
        key = (training, signature, configured_level())   # set_optimization_level compiles anew
        exe = self._executables.get(key)
        if exe is None:
            exe = self._compile(structure, signature, training)
            self._executables[key] = exe
        return exe

    def _compile(self, structure, signature: InputSignature, training: bool):
        from runtime.compile import compile_graph_for_host

        graph, output_structure = self._trace_graph(structure, signature, training)
        exe = compile_graph_for_host(graph, training=training, run_passes=False)
        exe.output_structure = output_structure
        return exe

    def _trace_graph(self, structure, signature: InputSignature, training: bool):
        """The optimized graph of one call on ``signature``, and the structure of its outputs.

        Shared by the JIT path (``_compile``) and ahead-of-time libraries (``codegen.library``).
        """
        from runtime.compile import optimize_graph

        tracer = Tracer(self.name)
        it = iter(signature.specs)
        names = iter(self._input_names(len(signature.specs)))
        proxies = map_structure(lambda _: tracer.input(*_spec(next(it)), next(names)), structure)
        with tracing(tracer):
            out = Layer.__call__(self, proxies, training=training)
        flat_out = flatten(out)
        if not all(isinstance(t, TracedTensor) for t in flat_out):
            raise TypeError(f"Model '{self.name}'.call() must return tensors; received {out!r}")
        tracer.graph.set_outputs([t.value for t in flat_out])
        graph = optimize_graph(tracer.graph, training=training)
        return graph, map_structure(lambda _: None, out)

    def _input_names(self, n: int) -> list[str]:
        return [f"input_{i}" for i in range(n)] if n > 1 else ["input"]

    def _check_inputs(self, structure) -> None:
        """Hook: functional models check declared input shapes here."""

    def _run(self, x, training: bool = False):
        # Fast path for batch-1 latency: one array of a dtype and shape already seen here
        # (so needing no conversion, already checked and traced) goes straight to its
        # executable. It holds while the executable cache is the same dict of the same size.
        fast = self.__dict__.get("_fast_runs")
        if (type(x) is np.ndarray and fast is not None and fast[0] is self._executables
                and len(fast[0]) == fast[1]):
            hit = fast[2].get((training, x.dtype, x.shape, configured_level()))
            if hit is not None:
                return hit(x)[0]
        structure, arrays = self._standardize_inputs(x)
        self._check_inputs(structure)
        exe = self._executable(structure, self._signature(arrays), training)
        outputs = iter(exe(*arrays))
        result = map_structure(lambda _: next(outputs), exe.output_structure)
        if (type(x) is np.ndarray and structure is x and len(arrays) == 1
                and exe.output_structure is None):
            runs = fast[2] if (fast is not None and fast[0] is self._executables
                               and len(fast[0]) == fast[1] and len(fast[2]) < 64) else {}
            runs[(training, x.dtype, x.shape, configured_level())] = exe
            self._fast_runs = (self._executables, len(self._executables), runs)
        return result

    def predict_on_batch(self, x):
        return self._run(x, training=False)

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps: int | None = None,
                callbacks=None):
        """Runs the compiled inference function batch by batch; returns numpy arrays."""
        from frontend.callbacks import CallbackList

        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"Expected `batch_size` to be a positive integer. Received: batch_size={batch_size}")
        structure, arrays = self._standardize_inputs(x)
        self._check_inputs(structure)
        n = arrays[0].shape[0]
        for a in arrays[1:]:
            if a.shape[0] != n:
                raise ValueError(f"All inputs must have the same number of samples; received sizes "
                                 f"{[b.shape[0] for b in arrays]}")
        exe = self._executable(structure, self._signature(arrays), False)
        n_batches = -(-n // batch_size)
        if steps is not None:
            n_batches = min(n_batches, int(steps))
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = CallbackList(callbacks, add_history=False, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=1, steps=n_batches)
        self.stop_predicting = False
        cbs.on_predict_begin()
        chunks: list[list[np.ndarray]] = []
        for i in range(n_batches):
            cbs.on_predict_batch_begin(i)
            sl = slice(i * batch_size, min(n, (i + 1) * batch_size))
            chunks.append(exe(*(a[sl] for a in arrays)))
            out = iter(chunks[-1])
            cbs.on_predict_batch_end(i, {"outputs": map_structure(lambda _: next(out), exe.output_structure)})
            if self.stop_predicting:
                break
        cbs.on_predict_end()
        if not chunks:
            raise ValueError("Expected input data to be non-empty.")
        outputs = iter([np.concatenate(parts, axis=0) for parts in zip(*chunks)])
        return map_structure(lambda _: next(outputs), exe.output_structure)

    # -- reporting ----------------------------------------------------------
    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False, layer_range=None) -> None:
        from frontend.models.summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on model '{self.name}', but the model "
                             "isn't built. You can build it manually via: `model.build(input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- saving (delegates to frontend.saving; the format follows the extension) -------------
    def save(self, filepath, overwrite: bool = True, zipped: bool | None = None, **kwargs) -> None:
        """Saves the model as ``.keras`` (Keras 3's format) or legacy ``.h5``, atomically."""
        from frontend.saving import save_model
        save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Saves the weights as ``.weights.h5`` (Keras 3 layout) or legacy ``.h5``, atomically."""
        from frontend.saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Loads weights from ``.weights.h5``, ``.keras`` or legacy ``.h5`` (Horn's or Keras')."""
        from frontend.saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def export(self, filepath, format: str = "onnx", verbose=None, input_signature=None, **kwargs):
        """Writes the inference graph as ONNX (opset 17; ``opset=``, ``fp16_weights=`` optional)."""
        from codegen.onnx.export import export_model
        return export_model(self, filepath, format, verbose, input_signature, **kwargs)


def run_shape(array, declared: tuple | None) -> tuple:
    """The traced shape of ``array``: the batch symbolic, and so is every later dim the model
    declares ``None`` (a sequence length, ``Input((None, 16))``), so one executable serves
    every length as it serves every batch. Other dims take the array's sizes."""
    shape = (None,) + tuple(array.shape[1:])
    if declared is None or len(declared) != array.ndim:
        return shape
    return (None,) + tuple(None if d is None else s for d, s in zip(declared[1:], array.shape[1:]))


def _spec(spec: tuple[str, tuple]) -> tuple[tuple, str]:
    dtype, shape = spec
    return shape, dtype

