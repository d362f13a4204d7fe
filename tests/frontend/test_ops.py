"""horn.ops (numpy-style and nn): each op written once as ``fn(ops, *xs)`` runs
three ways and must agree: eager Horn, Horn traced on a symbolic batch and
compiled (at batch 1 and 7 with one executable, and through the reference
interpreter), and real Keras 3 on the same arrays (values and dtype). Plus
dtype promotion, symbolic-batch shapes, KerasTensor ops becoming layers, and
errors."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import ops
from frontend.layers.op_layer import OpLayer
from frontend.tensors import KerasTensor, TracedTensor
from frontend.tracing import Tracer, tracing
from ir import BATCH, Op, interpret, verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip

BATCHES = (1, 7)


def _inputs(shapes, dtypes, seed, low, high):
    rng = np.random.default_rng(seed)
    out = []
    for s, dt in zip(shapes, dtypes):
        full = (BATCHES[-1],) + tuple(s)
        if dt == "bool":
            out.append(rng.random(full) < 0.5)
        elif np.dtype(dt).kind in "iu":
            out.append(rng.integers(int(low), int(high) + 1, size=full).astype(dt))
        else:
            out.append(rng.uniform(low, high, size=full).astype(dt))
    return out


def _close(got, want, what, rtol=1e-5, atol=1e-6, check_dtype=True):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if check_dtype:
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check_op(fn, shapes, dtypes=None, *, low=-2.0, high=2.0, seed=0, keras=True, keras_dtype=True,
             rtol=1e-5, atol=1e-6):
    """``fn(ops, *xs)``: eager == compiled (two batches) == interpreter == keras.ops."""
    dtypes = dtypes or ["float32"] * len(shapes)
    xs = _inputs(shapes, dtypes, seed, low, high)
    eager = {b: fn(ops, *[x[:b] for x in xs]) for b in BATCHES}
    tracer = Tracer("op_test")
    ins = [tracer.input((None,) + tuple(s), dt, f"x{i}") for i, (s, dt) in enumerate(zip(shapes, dtypes))]
    with tracing(tracer):   # as inside Layer.__call__: batch-free values may join the graph
        out = fn(ops, *ins)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    assert all(isinstance(o, TracedTensor) for o in outs)
    tracer.graph.set_outputs([o.value for o in outs])
    graph = verify(tracer.graph)
    exe = Executable(graph)
    for b in BATCHES:
        want = eager[b] if isinstance(eager[b], (list, tuple)) else [eager[b]]
        xb = [x[:b] for x in xs]
        for i, (g, w) in enumerate(zip(exe(*xb), want)):
            _close(g, w, f"compiled vs eager, batch {b}, output {i}", rtol, atol)
        for i, (g, w) in enumerate(zip(interpret(graph, xb), want)):
            _close(g, w, f"interpreter vs eager, batch {b}, output {i}", rtol, atol)
    if keras:
        k = keras_or_skip()
        theirs = fn(k.ops, *xs)
        theirs = list(theirs) if isinstance(theirs, (list, tuple)) else [theirs]
        mine = eager[BATCHES[-1]]
        for i, (g, w) in enumerate(zip(mine if isinstance(mine, (list, tuple)) else [mine], theirs)):
            _close(g, w, f"Horn vs keras.ops, output {i}", rtol, atol, check_dtype=keras_dtype)
    return graph


# -- elementwise ----------------------------------------------------------------------------------
UNARY = ["negative", "abs", "square", "sqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "tanh",
         "sigmoid", "erf", "floor", "ceil", "round", "sign", "reciprocal", "rsqrt", "tan", "log2",
         "log10", "exp2"]
POSITIVE = {"sqrt", "log", "log1p", "reciprocal", "rsqrt", "log2", "log10"}


@pytest.mark.parametrize("name", UNARY)
def test_unary(name):
    low = 0.1 if name in POSITIVE else -3.0
    check_op(lambda o, x: getattr(o, name)(x), [(3, 5)], low=low, high=3.0)


BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum", "mod",
          "floor_divide", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcasting(name):
    # (N, 3, 4) against (N, 1, 4): broadcasting inside the graph with the batch kept symbolic.
    check_op(lambda o, x, y: getattr(o, name)(x, y), [(3, 4), (1, 4)], low=0.5, high=3.0)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "minimum", "mod",
                                  "floor_divide", "power", "equal", "less"])
def test_binary_on_integers(name):
    check_op(lambda o, x, y: getattr(o, name)(x, y), [(4,), (4,)], ["int32", "int32"], low=1, high=5)


def test_power_and_scalars():
    check_op(lambda o, x: o.power(x, 2.0), [(4,)])
    check_op(lambda o, x: o.add(2.0, o.multiply(x, 3)), [(4,)])
    check_op(lambda o, x: o.subtract(1, x), [(4,)])
    check_op(lambda o, x: o.divide(1.0, x), [(4,)], low=0.5)


def test_logic_and_where_clip():
    check_op(lambda o, x, y: o.logical_and(o.greater(x, 0), o.less(y, 0)), [(5,), (5,)])
    check_op(lambda o, x, y: o.logical_or(o.greater(x, 0), o.less(y, 0)), [(5,), (5,)])
    check_op(lambda o, x, y: o.logical_xor(o.greater(x, 0), o.less(y, 0)), [(5,), (5,)])
    check_op(lambda o, x: o.logical_not(o.greater(x, 0)), [(5,)])
    check_op(lambda o, x, y: o.where(o.greater(x, 0), x, y), [(5,), (5,)])
    check_op(lambda o, x: o.where(o.greater(x, 0), x, 0.0), [(5,)])
    check_op(lambda o, x: o.clip(x, -0.5, 0.75), [(5,)])
    check_op(lambda o, x: o.clip(x, -1, 2), [(5,)], ["int32"], low=-4, high=4)


def test_isnan_isinf_isfinite():
    def fn(o, x):
        y = o.divide(o.log(o.abs(x)), o.subtract(x, x))   # +-inf and nan (0/0 where x == 0 never)
        return [o.isnan(y), o.isinf(y), o.isfinite(o.divide(x, o.add(x, 1.0)))]
    with np.errstate(divide="ignore", invalid="ignore"):
        check_op(fn, [(6,)], low=-2.0, high=2.0)


def test_cast_float_to_int_truncates():
    check_op(lambda o, x: o.cast(x, "int32"), [(6,)], low=-5.0, high=5.0)
    check_op(lambda o, x: o.cast(o.greater(x, 0), "float32"), [(6,)])


# -- reductions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std", "amax", "amin", "logsumexp"])
@pytest.mark.parametrize("axis,keepdims", [(-1, False), (1, True), ((1, 2), False), (None, False),
                                           ((0, 2), True)])
def test_reductions(name, axis, keepdims):
    check_op(lambda o, x: getattr(o, name)(x, axis=axis, keepdims=keepdims), [(3, 4)], rtol=2e-5)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis,keepdims", [(-1, False), (1, True), (0, False)])
def test_arg_reductions(name, axis, keepdims):
    check_op(lambda o, x: getattr(o, name)(x, axis=axis, keepdims=keepdims), [(3, 4)])


def test_all_any_count_nonzero():
    check_op(lambda o, x: o.all(o.greater(x, -1.5), axis=-1), [(3, 4)])
    check_op(lambda o, x: o.any(o.greater(x, 1.5), axis=1, keepdims=True), [(3, 4)])
    check_op(lambda o, x: o.count_nonzero(o.greater(x, 0), axis=-1), [(3, 4)], keras_dtype=False)


def test_integer_reductions_keep_keras_dtypes():
    check_op(lambda o, x: o.sum(x, axis=-1), [(4,)], ["int8"], low=-3, high=3)
    check_op(lambda o, x: o.mean(x, axis=-1), [(4,)], ["int32"], low=-3, high=3)
    check_op(lambda o, x: o.max(x, axis=-1), [(4,)], ["int32"], low=-3, high=3)


# -- movement -------------------------------------------------------------------------------------
def test_reshape_keeps_symbolic_batch():
    t = Tracer("r")
    x = t.input((None, 28, 28))
    y = ops.reshape(x, (-1, 784))
    assert y.value.shape == (BATCH, 784) and y.shape == (None, 784)
    assert ops.reshape(x, (-1, 14, 2, 28)).value.shape == (BATCH, 14, 2, 28)
    assert ops.reshape(x, (None, 784)).value.shape == (BATCH, 784)
    check_op(lambda o, x: o.reshape(x, (-1, 784)), [(28, 28)])
    check_op(lambda o, x: o.reshape(x, (o.shape(x)[0], 4, -1)), [(2, 3, 4)], keras=False)


def test_reshape_errors():
    t = Tracer("r")
    x = t.input((None, 3))
    with pytest.raises(ValueError, match="symbolic batch times 3"):
        ops.reshape(x, (-1,))
    with pytest.raises(ValueError, match="at most one unknown dimension"):
        ops.reshape(np.zeros((2, 3)), (-1, -1))
    with pytest.raises(ValueError, match="total size of the tensor must be unchanged"):
        ops.reshape(np.zeros((2, 3)), (4, 2))


@pytest.mark.parametrize("fn", [
    lambda o, x: o.transpose(x, (0, 2, 1)),
    lambda o, x: o.transpose(x),
    lambda o, x: o.expand_dims(x, 1),
    lambda o, x: o.expand_dims(x, -1),
    lambda o, x: o.squeeze(o.expand_dims(x, 2), 2),
    lambda o, x: o.squeeze(x[:, :1], 1),
    lambda o, x: o.moveaxis(x, 1, 2),
    lambda o, x: o.swapaxes(x, 0, 2),
    lambda o, x: o.flip(x, 1),
    lambda o, x: o.flip(x, (1, 2)),
    lambda o, x: o.tile(x, (1, 2, 3)),
    lambda o, x: o.tile(x, 2),
    lambda o, x: o.repeat(x, 3, axis=2),
    lambda o, x: o.repeat(x, [1, 0, 2], axis=1),
    lambda o, x: o.pad(x, ((0, 0), (1, 2), (0, 3))),
    lambda o, x: o.pad(x, ((0, 0), (1, 1), (2, 0)), constant_values=1.5),
    lambda o, x: o.roll(x, 2, axis=2),
    lambda o, x: o.roll(x, -1, axis=1),
    lambda o, x: o.slice(x, (0, 1, 1), (o.shape(x)[0], 2, 2)),
    lambda o, x: o.broadcast_to(o.expand_dims(x, 1), (o.shape(x)[0], 2, 3, 4)),
    lambda o, x: o.tril(x),
    lambda o, x: o.triu(x, 1),
], ids=["transpose", "transpose_rev", "expand_dims", "expand_dims_last", "squeeze", "squeeze_slice",
        "moveaxis", "swapaxes", "flip", "flip2", "tile", "tile_int", "repeat", "repeat_counts", "pad",
        "pad_value", "roll", "roll_neg", "slice", "broadcast_to", "tril", "triu"])
def test_movement(fn):
    check_op(fn, [(3, 4)])


def test_concatenate_stack_split():
    check_op(lambda o, x, y: o.concatenate([x, y], axis=-1), [(3, 4), (3, 2)])
    check_op(lambda o, x, y: o.concatenate([x, y], axis=1), [(3, 4), (1, 4)])
    check_op(lambda o, x, y: o.stack([x, y], axis=1), [(3, 4), (3, 4)])
    check_op(lambda o, x, y: o.stack([x, y], axis=-1), [(3, 4), (3, 4)])
    check_op(lambda o, x: o.split(x, 2, axis=-1), [(3, 4)])
    check_op(lambda o, x: o.split(x, [1, 3], axis=-1), [(3, 4)])


def test_ravel_of_symbolic_batch_is_refused():
    t = Tracer("r")
    with pytest.raises(ValueError, match="symbolic batch"):
        ops.ravel(t.input((None, 3)))
    check_op(lambda o, x: o.ravel(x), [(1,)], keras=True)


# -- indexing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [
    (slice(None), 1),
    (slice(None), slice(None, None, -1)),
    (slice(None), slice(4, 0, -2), None),
    (Ellipsis, 2),
    (Ellipsis, slice(1, -1)),
    (slice(None), None, slice(-3, None), 0),
    (slice(None), -1, slice(None, None, 2)),
    (slice(None), slice(10, None, -1)),
    (slice(None), slice(None), slice(3, 1)),
], ids=lambda k: repr(k).replace(" ", ""))
def test_getitem(key):
    check_op(lambda o, x: o.getitem(x, key) if o is ops else x[key], [(5, 4)])
    check_op(lambda o, x: x[key], [(5, 4)], keras=False)   # the TracedTensor operator


def test_getitem_on_batch_axis():
    check_op(lambda o, x: x[:, 1:3], [(4,)], keras=False)
    t = Tracer("g")
    x = t.input((None, 4))
    with pytest.raises(ValueError, match="symbolic batch"):
        x[0]
    with pytest.raises(ValueError, match="taken whole"):
        x[1:]
    with pytest.raises(IndexError, match="out of bounds for axis 1 with size 4"):
        x[:, 4]
    with pytest.raises(IndexError, match="too many indices"):
        x[:, 1, 2]


def test_take_and_array_index():
    check_op(lambda o, x: o.take(x, np.array([3, 0, -1]), axis=1), [(4, 2)])
    check_op(lambda o, x: o.take(x, np.array([[0, 1], [2, 2]]), axis=-1), [(4, 3)])
    check_op(lambda o, x: o.take(x, o.cast(o.greater(x[:, :1], 0), "int32"), axis=1), [(4,)], keras=False)
    check_op(lambda o, x: x[:, np.array([2, 0])], [(4,)], keras=False)
    with pytest.raises(IndexError, match="Boolean mask"):
        ops.getitem(np.zeros((2, 2)), np.array([True, False]))


# -- products -------------------------------------------------------------------------------------
W = np.random.default_rng(5).standard_normal((4, 3, 2)).astype("float32")


def test_matmul_variants():
    check_op(lambda o, x: o.matmul(x, W[:, 0, :]), [(4,)])           # (N, 4) @ (4, 2)
    check_op(lambda o, x: o.matmul(x, W[:, 0, :]), [(5, 4)])         # (N, 5, 4) @ (4, 2)
    check_op(lambda o, x: o.matmul(x, W[:, 0, 0]), [(5, 4)])         # rank-1 right operand
    check_op(lambda o, x, y: o.matmul(x, y), [(3, 4), (4, 2)])       # batched both sides
    check_op(lambda o, x: x @ W[:, 0, :], [(4,)], keras=False)


def test_tensordot_dot_outer():
    check_op(lambda o, x: o.tensordot(x, W, axes=2), [(4, 3)])
    check_op(lambda o, x: o.tensordot(x, W, axes=([1], [0])), [(4, 5)], keras=True)
    check_op(lambda o, x: o.tensordot(x, W, axes=([1, 2], [0, 1])), [(4, 3)])
    check_op(lambda o, x: o.dot(x, W[:, 0, :]), [(4,)])
    check_op(lambda o, x: o.dot(x, W), [(5, 3)])
    check_op(lambda o, x: o.inner(x, W[0, :, 0]), [(3,)])
    eager = ops.outer(np.arange(3.0), np.arange(4.0))
    np.testing.assert_allclose(eager, np.outer(np.arange(3.0), np.arange(4.0)))


# -- creation and conversion ----------------------------------------------------------------------
def test_like_ops_follow_symbolic_batch():
    check_op(lambda o, x: o.zeros_like(x), [(3,)])
    check_op(lambda o, x: o.ones_like(x, dtype="int32"), [(3,)])
    check_op(lambda o, x: o.full_like(x, 2.5), [(3,)])
    t = Tracer("l")
    assert ops.zeros_like(t.input((None, 3))).value.shape == (BATCH, 3)


def test_creation_defaults_match_keras():
    k = keras_or_skip()
    for fn in (lambda o: o.zeros((2, 3)), lambda o: o.ones((2,), "int32"), lambda o: o.full((2,), 3),
               lambda o: o.arange(5), lambda o: o.arange(1.0, 4.0, 0.5), lambda o: o.eye(3, 4, 1),
               lambda o: o.identity(2), lambda o: o.convert_to_tensor([1, 2]),
               lambda o: o.convert_to_tensor([1.5, 2.0]), lambda o: o.convert_to_tensor(3.0)):
        _close(fn(ops), fn(k.ops), "creation")


def test_shape_ndim_convert_to_numpy():
    t = Tracer("s")
    x = t.input((None, 3, 2))
    assert ops.shape(x) == (None, 3, 2) and ops.ndim(x) == 3 and ops.size(x) is None
    assert ops.shape(np.zeros((4, 1))) == (4, 1) and ops.size(np.zeros((4, 2))) == 8
    with pytest.raises(ValueError, match="symbolic tensor has no value"):
        ops.convert_to_numpy(x)
    assert ops.convert_to_numpy([1.0]).dtype == np.float64
    assert ops.dtype(np.zeros(2, "int8")) == "int8"


# -- nn ops ---------------------------------------------------------------------------------------
def test_softmax_family_and_one_hot():
    check_op(lambda o, x: o.softmax(x), [(3, 5)], low=-30, high=30)
    check_op(lambda o, x: o.softmax(x, axis=1), [(3, 5)])
    check_op(lambda o, x: o.log_softmax(x, axis=-1), [(3, 5)], low=-30, high=30)
    check_op(lambda o, x: o.one_hot(x, 4), [(3,)], ["int32"], low=-1, high=3)
    check_op(lambda o, x: o.one_hot(x, 4, axis=1, dtype="int32"), [(3,)], ["int32"], low=0, high=3)
    check_op(lambda o, x: o.normalize(x, axis=-1), [(3, 5)])
    check_op(lambda o, x: o.normalize(x, axis=1, order=1), [(3, 5)])


# -- dtypes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn,dtypes", [
    (lambda o, x: o.add(x, 1.5), ["int32"]),          # python float promotes ints to floatx
    (lambda o, x: o.add(x, 2), ["int8"]),             # python int adopts the tensor's dtype
    (lambda o, x: o.add(x, 2.0), ["float16"]),        # ... and python float too
    (lambda o, x, y: o.add(x, y), ["int8", "int32"]),
    (lambda o, x, y: o.multiply(x, y), ["int32", "float32"]),
    (lambda o, x: o.divide(x, 2), ["int32"]),         # true division of ints gives floatx
    (lambda o, x: o.sqrt(o.abs(x)), ["int32"]),
    (lambda o, x: o.floor(x), ["int32"]),
    (lambda o, x: o.square(o.greater(x, 0)), ["int32"]),
    (lambda o, x: o.add(o.greater(x, 0), o.less(x, 2)), ["int32"]),   # bool + bool stays bool
    (lambda o, x: o.sum(o.greater(x, 0), axis=-1), ["int32"]),        # sum of bools is int32
    (lambda o, x: o.max(o.greater(x, 0), axis=-1), ["int32"]),        # max of bools stays bool
    (lambda o, x: o.matmul(x, np.ones((4, 2), "int32")), ["int32"]),
], ids=["int+pyfloat", "int8+pyint", "f16+pyfloat", "int8+int32", "int32*f32", "int/int", "sqrt_int",
        "floor_int", "square_bool", "bool+bool", "sum_bool", "max_bool", "matmul_int"])
def test_dtype_promotion_matches_keras(fn, dtypes):
    check_op(fn, [(4,)] * len(dtypes), dtypes, low=-3, high=3, rtol=1e-3)


def test_traced_promotion_emits_casts():
    t = Tracer("p")
    x = t.input((None, 3), "int32")
    y = ops.add(x, 1.5)
    assert y.dtype == "float32"
    assert [n.op for n in t.graph.nodes].count(Op.CAST) == 1


# -- KerasTensors ---------------------------------------------------------------------------------
def test_keras_tensor_ops_become_op_layers():
    x = KerasTensor((None, 3))
    y = ops.add(x, 1.0)
    assert isinstance(y, KerasTensor) and y.shape == (None, 3) and y.dtype == "float32"
    layer = y._keras_history[0]
    assert isinstance(layer, OpLayer) and layer.name.startswith("add")
    z = ops.reshape(x * x, (-1, 3, 1))
    assert z.shape == (None, 3, 1) and isinstance(z._keras_history[0], OpLayer)
    s = ops.softmax(x[:, 1:])
    assert s.shape == (None, 2)
    m = ops.mean(x, axis=-1)
    assert m.shape == (None,)
    # The recorded layer replays the op on arrays.
    np.testing.assert_allclose(layer(np.ones((2, 3), "float32")), np.full((2, 3), 2.0))


def test_where_without_branches_is_refused():
    with pytest.raises(ValueError, match="data-dependent shape"):
        ops.where(np.array([True]))


@pytest.mark.parametrize("fn", [lambda o, x: o.add(o.greater(x, 0), 1),
                                lambda o, x: o.multiply(o.greater(x, 0), 2),
                                lambda o, x: o.maximum(o.greater(x, 0), 0),
                                lambda o, x: o.add(o.greater(x, 0), True),
                                lambda o, x: o.equal(o.greater(x, 0), 1)],
                         ids=["bool+int", "bool*int", "max(bool,int)", "bool+True", "bool==int"])
def test_bool_tensor_with_python_int_promotes_like_keras(fn):
    check_op(fn, [(4,)])


def test_broadcast_to_batch_of_a_parameter_sized_value():
    # A batch-free value broadcast to (N, 3) inside a graph: N comes from the graph's input.
    bias = np.arange(3, dtype="float32").reshape(1, 3)
    check_op(lambda o, x: o.add(x, o.broadcast_to(bias, (o.shape(x)[0], 3))), [(3,)], keras=False)
    with pytest.raises(ValueError, match="only has a size inside a traced graph"):
        ops.broadcast_to(bias, (None, 3))
