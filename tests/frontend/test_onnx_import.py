"""Reading ONNX models into Horn: hand-built graphs (onnx.helper) compiled by Horn and
compared with ONNX Runtime at batch 1 and 37 from one file, the up-front listing of
everything unsupported, the dynamic-dim rule, static inputs, weight layouts, and
fine-tuning an imported model with ``fit``.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import horn
from frontend.onnx_import import OnnxImportError, UnsupportedOnnxError, load_onnx
from frontend.onnx_import.errors import ATTRIBUTE, DTYPE, DYNAMIC, OP

ort = pytest.importorskip("onnxruntime")

F32 = TensorProto.FLOAT
RNG = np.random.default_rng(7)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def make_model(nodes, inputs, outputs, initializers=None, opset=17, name="g", check=True):
    """An ONNX model (checked unless ``check`` is False); ``inputs``/``outputs`` are
    (name, elem type, shape) triples."""
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*o) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def ort_run(model, feeds: dict) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_matches_ort(model, make_feeds, batches=(1, 37), rtol=1e-5, atol=1e-5):
    """Horn's compiled outputs equal ONNX Runtime's on every batch size, from one Horn model."""
    horn_model = load_onnx(model)
    for n in batches:
        feeds = make_feeds(n)
        want = ort_run(model, feeds)
        got = horn_model(feeds)
        got = got if isinstance(got, list) else [got]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return horn_model


# -- whole models against ONNX Runtime ---------------------------------------------------------
def mlp_model():
    inits = {"W1": rand(6, 16), "b1": rand(16), "W2": rand(3, 16), "b2": rand(3)}
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"], name="dense1"),
             helper.make_node("Add", ["h", "b1"], ["h1"], name="bias1"),
             helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
             helper.make_node("Gemm", ["h2", "W2", "b2"], ["logits"], name="dense2", transB=1),
             helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1)]
    return make_model(nodes, [("x", F32, ["batch", 6])], [("probs", F32, ["batch", 3])], inits, name="mlp")


def test_mlp_matches_onnxruntime_at_batch_1_and_37():
    model = assert_matches_ort(mlp_model(), lambda n: {"x": rand(n, 6)})
    assert model.input_names == ["x"] and model.output_names == ["probs"]
    # One executable serves every batch size: the leading dynamic dim is Horn's symbolic batch.
    assert len(model._executables) == 1
    assert [w.trainable for w in model.weights] == [True] * 4


def convnet_model():
    inits = {"W": rand(8, 3, 3, 3), "B": rand(8), "scale": rand(8), "bias": rand(8), "mean": rand(8),
             "var": np.abs(rand(8)) + 0.5, "Wg": rand(8, 2, 3, 3), "Wt": rand(8, 4, 2, 2),
             "Wd": rand(10, 4), "bd": rand(10)}
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "Wg"], ["g"], name="grouped", group=4, auto_pad="SAME_UPPER",
                         dilations=[1, 1]),
        helper.make_node("MaxPool", ["g"], ["p"], name="pool", kernel_shape=[3, 3], strides=[1, 1],
                         pads=[1, 1, 1, 1]),
        helper.make_node("ConvTranspose", ["p", "Wt"], ["ct"], name="up", strides=[2, 2]),
        helper.make_node("AveragePool", ["ct"], ["ap"], name="avg", kernel_shape=[3, 3], strides=[2, 2],
                         ceil_mode=1, count_include_pad=1, pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["ap"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "Wd", "bd"], ["out"], name="dense", transB=1),
    ]
    return make_model(nodes, [("x", F32, ["N", 3, 11, 9])], [("out", F32, ["N", 10])], inits, name="cnn")


def test_convnet_matches_onnxruntime_at_batch_1_and_37():
    model = assert_matches_ort(convnet_model(), lambda n: {"x": rand(n, 3, 11, 9)}, atol=1e-4)
    # BatchNorm's statistics load as non-trainable weights; the rest are trainable.
    frozen = {w.name for w in model.non_trainable_weights}
    assert frozen == {"mean", "var"}


def test_conv_kernels_are_stored_in_horns_layout():
    model = load_onnx(convnet_model())
    shapes = {w.name: w.shape for w in model.weights}
    assert shapes["W"] == (3, 3, 3, 8)        # OIHW -> HWIO, once, at import
    assert shapes["Wg"] == (3, 3, 2, 8)
    assert shapes["Wd"] == (4, 10)            # Gemm's transB=1 weight stored as (K, N)
    graph = model.trace()
    for node in graph.nodes:
        if node.op.value == "transpose":
            assert all(v.kind.value != "param" for v in node.inputs), node
    # Conv -> MaxPool -> ConvTranspose -> AveragePool stay channels-last: the round trips between
    # them cancel, leaving one transpose into and one out of each channels-last run.
    transposes = sum(n.op.value == "transpose" for n in graph.nodes)
    assert transposes == 4, str(graph)


def test_shape_arithmetic_folds_at_import():
    # PyTorch-style flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, on static dims.
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Constant", [], ["zero"], name="c0",
                              value=numpy_helper.from_array(np.array(1, np.int64))),
             helper.make_node("Gather", ["s", "zero"], ["d1"], name="gather", axis=0),
             helper.make_node("Unsqueeze", ["d1", "axes"], ["d1v"], name="unsq"),
             helper.make_node("Concat", ["minus1", "d1v"], ["target"], name="cat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
             helper.make_node("Tanh", ["y"], ["z"], name="tanh")]
    model = make_model(nodes, [("x", F32, [4, 3, 5])], [("z", F32, [20, 3])],
                       {"axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)})
    horn_model = assert_matches_ort(model, lambda n: {"x": rand(4, 3, 5)}, batches=(4,))
    # Folded while importing, not by a later pass: the traced graph never held the shape ops.
    assert [n.op.value for n in horn_model.trace(optimize=False).nodes] == ["reshape", "tanh"]


def _single(op_type, inputs, outputs, attrs=None, inits=None, opset=17, **kw):
    node = helper.make_node(op_type, [i[0] for i in inputs] + list(inits or {}),
                            [o[0] for o in outputs], name=op_type.lower(), **(attrs or {}))
    declared = [i for i in inputs]
    return make_model([node], declared, outputs, inits, opset=opset)


# Single ops on a dynamic batch, against ONNX Runtime: (model, feeds for batch n).
CASES = {
    "layernorm": (lambda: _single("LayerNormalization", [("x", F32, ["N", 4, 6])], [("y", F32, ["N", 4, 6])],
                                  {"axis": -1, "epsilon": 1e-3}, {"g": rand(6), "b": rand(6)}),
                  lambda n: {"x": rand(n, 4, 6)}),
    "pad_reflect": (lambda: _single("Pad", [("x", F32, ["N", 3, 5])], [("y", F32, ["N", 6, 8])],
                                    {"mode": "reflect"}, {"pads": np.array([0, 1, 2, 0, 2, 1], np.int64)}),
                    lambda n: {"x": rand(n, 3, 5)}),
    "slice_neg_step": (lambda: _single("Slice", [("x", F32, ["N", 10, 4])], [("y", F32, ["N", 4, 4])], None,
                                       {"starts": np.array([-1], np.int64), "ends": np.array([1], np.int64),
                                        "axes": np.array([1], np.int64), "steps": np.array([-2], np.int64)}),
                       lambda n: {"x": rand(n, 10, 4)}),
    "reduce_mean_axes": (lambda: _single("ReduceMean", [("x", F32, ["N", 3, 4])], [("y", F32, ["N", 1, 4])],
                                         {"keepdims": 1}, {"axes": np.array([1], np.int64)}, opset=18),
                         lambda n: {"x": rand(n, 3, 4)}),
    "argmax_last": (lambda: _single("ArgMax", [("x", F32, ["N", 5])], [("y", TensorProto.INT64, ["N"])],
                                    {"axis": 1, "keepdims": 0, "select_last_index": 1}),
                    lambda n: {"x": np.round(rand(n, 5))}),
    "div_int_trunc": (lambda: _single("Div", [("a", TensorProto.INT32, ["N", 4]),
                                              ("b", TensorProto.INT32, ["N", 4])],
                                      [("y", TensorProto.INT32, ["N", 4])]),
                      lambda n: {"a": RNG.integers(-50, 50, (n, 4), dtype=np.int32),
                                 "b": RNG.choice([-7, -3, -1, 2, 5], (n, 4)).astype(np.int32)}),
    "where_clip": (lambda: make_model(
        [helper.make_node("Greater", ["x", "zero"], ["c"]), helper.make_node("Clip", ["x", "lo", "hi"], ["k"]),
         helper.make_node("Where", ["c", "k", "x"], ["y"])],
        [("x", F32, ["N", 6])], [("y", F32, ["N", 6])],
        {"zero": np.float32(0), "lo": np.float32(-0.5), "hi": np.float32(0.5)}),
        lambda n: {"x": rand(n, 6)}),
    "expand_tile": (lambda: make_model(
        [helper.make_node("Expand", ["x", "shape"], ["e"]), helper.make_node("Tile", ["e", "reps"], ["y"])],
        [("x", F32, ["N", 1, 3])], [("y", F32, ["N", 4, 6])],
        {"shape": np.array([1, 2, 3], np.int64), "reps": np.array([1, 2, 2], np.int64)}),
        lambda n: {"x": rand(n, 1, 3)}),
    "gather_split_concat": (lambda: make_model(
        [helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
         helper.make_node("Split", ["g", "sizes"], ["s0", "s1"], axis=2),
         helper.make_node("Concat", ["s1", "s0"], ["y"], axis=2)],
        [("x", F32, ["N", 5, 4])], [("y", F32, ["N", 3, 4])],
        {"idx": np.array([4, -1, 0], np.int64), "sizes": np.array([1, 3], np.int64)}),
        lambda n: {"x": rand(n, 5, 4)}),
    "gelu_erf_pow": (lambda: make_model(
        [helper.make_node("Pow", ["x", "two"], ["p"]), helper.make_node("Erf", ["p"], ["e"]),
         helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["e", "s"], ["y"])],
        [("x", F32, ["N", 7])], [("y", F32, ["N", 7])], {"two": np.float32(2)}),
        lambda n: {"x": rand(n, 7)}),
    "cast_compare": (lambda: make_model(
        [helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT64),
         helper.make_node("Equal", ["i", "k"], ["y"])],
        [("x", F32, ["N", 5])], [("y", TensorProto.BOOL, ["N", 5])], {"k": np.int64(1)}),
        lambda n: {"x": 2 * rand(n, 5)}),
    "transpose_matmul_batch": (lambda: make_model(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
         helper.make_node("MatMul", ["t", "x"], ["y"])],
        [("x", F32, ["N", 3, 4])], [("y", F32, ["N", 4, 4])]),
        lambda n: {"x": rand(n, 3, 4)}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_ops_on_a_dynamic_batch_match_onnxruntime(case):
    build, feeds = CASES[case]
    assert_matches_ort(build(), feeds)


# -- inputs and outputs ------------------------------------------------------------------------
def two_in_two_out():
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"], name="add"),
             helper.make_node("Mul", ["a", "b"], ["prod"], name="mul")]
    return make_model(nodes, [("a", F32, ["N", 3]), ("b", F32, ["N", 3])],
                      [("prod", F32, ["N", 3]), ("sum", F32, ["N", 3])])


def test_inputs_by_name_or_position_and_outputs_in_file_order():
    model = load_onnx(two_in_two_out())
    assert model.input_names == ["a", "b"] and model.output_names == ["prod", "sum"]
    a, b = rand(5, 3), rand(5, 3)
    prod, total = model({"b": b, "a": a})
    np.testing.assert_allclose(prod, a * b, rtol=1e-6)
    np.testing.assert_allclose(total, a + b, rtol=1e-6)
    prod2, _ = model([a, b])
    np.testing.assert_array_equal(prod, prod2)
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        model({"a": a})
    # The graph's inputs carry the file's names (a C caller or a dump shows them).
    assert [v.name for v in model.trace().inputs] == ["a", "b"]


def test_a_fixed_leading_dim_stays_fixed():
    model = load_onnx(make_model([helper.make_node("Neg", ["x"], ["y"])], [("x", F32, [2, 3])],
                                 [("y", F32, [2, 3])]))
    np.testing.assert_array_equal(model(np.ones((2, 3), np.float32)), -np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"must have shape \(2, 3\), received \(4, 3\)"):
        model(np.ones((4, 3), np.float32))
    # input_shapes turns the fixed batch into Horn's symbolic one.
    dynamic = load_onnx(make_model([helper.make_node("Neg", ["x"], ["y"])], [("x", F32, [2, 3])],
                                   [("y", F32, [2, 3])]), input_shapes={"x": (None, 3)})
    assert dynamic(np.ones((4, 3), np.float32)).shape == (4, 3)


def test_input_shapes_accept_none_only_for_the_batch():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["N", 4])],
                       [("y", F32, ["N", 4])])
    with pytest.raises(OnnxImportError, match=r"input_shapes\['x'\] = \(2, None\): only the leading"):
        load_onnx(model, input_shapes={"x": (2, None)})
    with pytest.raises(OnnxImportError, match=r"input_shapes names \['y'\], which are not inputs"):
        load_onnx(model, input_shapes={"y": (None, 4)})


def test_a_non_leading_dynamic_dim_is_refused_with_the_fix():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["N", "seq", 4])],
                       [("y", F32, ["N", "seq", 4])])
    with pytest.raises(UnsupportedOnnxError, match=r"input 'x': dimension 1 'seq' is dynamic.*"
                                                   r"input_shapes=\{'x': \(None, \.\.\.\)\}") as info:
        load_onnx(model)
    assert info.value.categories == {DYNAMIC}
    pinned = load_onnx(model, input_shapes={"x": (None, 7, 4)})
    assert pinned(rand(3, 7, 4)).shape == (3, 7, 4)


def test_shape_operands_from_graph_inputs_need_static_inputs():
    model = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
                       [("x", F32, ["N", 6]), ("shape", TensorProto.INT64, [3])], [("y", F32, ["N", 3, 2])])
    with pytest.raises(UnsupportedOnnxError, match=r"node 'reshape' \(Reshape\): operand 1 \('shape'\) "
                                                   r"must be known when Horn compiles.*static_inputs"):
        load_onnx(model)
    horn_model = load_onnx(model, static_inputs={"shape": [0, 3, 2]})
    assert horn_model.input_names == ["x"]
    x = rand(4, 6)
    np.testing.assert_array_equal(horn_model(x), x.reshape(4, 3, 2))


# -- refusing up front ---------------------------------------------------------------------------
def unsupported_model():
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top"),
             helper.make_node("Relu", ["v"], ["r"], name="fine"),
             helper.make_node("NonZero", ["r"], ["nz"], name="where_nonzero"),
             helper.make_node("Cast", ["r"], ["bf"], name="to_bf16", to=TensorProto.BFLOAT16),
             helper.make_node("MaxPool", ["img"], ["mp", "arg"], name="pool", kernel_shape=[2, 2]),
             helper.make_node("Fancy", ["r"], ["z"], name="custom", domain="com.example")]
    graph = helper.make_graph(
        nodes, "bad", [helper.make_tensor_value_info("x", F32, ["N", 5]),
                       helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
                       helper.make_tensor_value_info("img", F32, ["N", 1, 4, 4]),
                       helper.make_tensor_value_info("h", TensorProto.INT16, ["N", 2])],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         (("nz", TensorProto.INT64), ("bf", TensorProto.BFLOAT16), ("mp", F32), ("arg", TensorProto.INT64),
          ("z", F32))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.example", 1)])


def test_every_unsupported_item_is_listed_before_anything_is_traced(monkeypatch):
    import frontend.tracing
    import runtime.executable

    def refuse(*args, **kwargs):
        raise AssertionError("the importer traced or compiled before refusing the model")

    monkeypatch.setattr(frontend.tracing.Tracer, "__init__", refuse)
    monkeypatch.setattr(runtime.executable.Executable, "__init__", refuse)
    with pytest.raises(UnsupportedOnnxError) as info:
        load_onnx(unsupported_model())
    err = info.value
    message = str(err)
    for expected in ("node 'top' (TopK): Horn has no importer for this op",
                     "node 'where_nonzero' (NonZero): Horn has no importer",
                     "node 'to_bf16' (Cast)", "BFLOAT16",
                     "node 'pool' (MaxPool): the optional Indices output",
                     "node 'custom' (Fancy): custom domain 'com.example'",
                     "input 'h': has element type INT16"):
        assert expected in message, message
    assert "'fine'" not in message
    assert len(err.problems) == 6
    assert err.categories == {OP, DTYPE, ATTRIBUTE}
    assert message.startswith("Cannot import the ONNX model: 6 unsupported items (nothing was compiled)")


def torch_style_flatten(tail_ops=()):
    """``x.view(x.size(0), -1)`` as PyTorch exports it with a dynamic batch."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
             *tail_ops,
             helper.make_node("Unsqueeze", ["n_final", "axes"], ["nv"], name="unsq"),
             helper.make_node("Concat", ["nv", "minus1"], ["target"], name="cat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")]
    if not tail_ops:
        nodes.insert(2, helper.make_node("Identity", ["n"], ["n_final"], name="same"))
    inits = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
             "minus1": np.array([-1], np.int64), "two": np.array(2, np.int64)}
    return make_model(nodes, [("x", F32, ["N", 2, 3, 4])], [("y", F32, ["N", 24])], inits)


def test_shapes_built_from_the_dynamic_batch_reshape_with_it():
    model = assert_matches_ort(torch_style_flatten(), lambda n: {"x": rand(n, 2, 3, 4)})
    graph = model.trace(optimize=False)
    assert [n.op.value for n in graph.nodes] == ["reshape"]
    assert str(graph.outputs[0].type) == "f32[N,24]"


def test_computing_with_the_run_time_batch_size_is_refused():
    doubled = torch_style_flatten([helper.make_node("Mul", ["n", "two"], ["n_final"], name="double")])
    with pytest.raises(UnsupportedOnnxError, match=r"node 'double' \(Mul\): operand 0 \('n'\) depends "
                                                   r"on the run-time batch size"):
        load_onnx(doubled).trace()
    # Returning the shape itself is refused as well: the batch size is not a compile-time value.
    shape_out = make_model([helper.make_node("Shape", ["x"], ["s"], name="shape_of_x")],
                           [("x", F32, ["N", 3])], [("s", TensorProto.INT64, [2])])
    with pytest.raises(UnsupportedOnnxError, match=r"output 's': is \(part of\) a shape holding the "
                                                   r"run-time batch size"):
        load_onnx(shape_out).trace()
    # With a fixed batch the same shape arithmetic folds to numbers.
    fixed = load_onnx(doubled, input_shapes={"x": (3, 2, 3, 4)})
    assert fixed.trace().outputs[0].type.shape == (6, 12)


def test_refusals_found_while_tracing_are_listed_together():
    # Two independent nodes that need the run-time batch size as a number, and one that
    # depends on a refused node (it is skipped, not reported on its own).
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Mul", ["s", "two"], ["s2"], name="double_shape"),
             helper.make_node("Reshape", ["x", "s2"], ["r"], name="uses_refused"),
             helper.make_node("Size", ["x"], ["n"], name="count"),
             helper.make_node("Relu", ["x"], ["y"], name="fine")]
    model = make_model(nodes, [("x", F32, ["N", 3])],
                       [("r", F32, None), ("n", TensorProto.INT64, []), ("y", F32, ["N", 3])],
                       {"two": np.array([2], np.int64)}, check=False)
    with pytest.raises(UnsupportedOnnxError) as info:
        load_onnx(model)
    message = str(info.value)
    assert "node 'double_shape' (Mul)" in message and "node 'count' (Size)" in message, message
    assert "uses_refused" not in message and "'fine'" not in message
    assert len(info.value.problems) == 2 and info.value.categories == {DYNAMIC}


def test_an_error_inside_a_node_names_the_node():
    # The weight does not fit the input: the file is wrong, and the error says where.
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")],
                       [("x", F32, ["N", 3])], [("y", F32, ["N", 2])], {"w": rand(4, 2)}, check=False)
    with pytest.raises(OnnxImportError, match=r"node 'proj' \(MatMul\): .*contracting dims differ"):
        load_onnx(model)(rand(2, 3))


def test_reading_paths_bytes_and_the_public_entry_points(tmp_path):
    model = mlp_model()
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    x = rand(3, 6)
    want = ort_run(model, {"x": x})[0]
    for loaded in (horn.onnx.load_model(str(path)), horn.saving.load_model(path),
                   load_onnx(model.SerializeToString())):
        np.testing.assert_allclose(loaded(x), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="No ONNX file"):
        load_onnx(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 definitely not protobuf \xff" * 3)
    with pytest.raises(OnnxImportError, match="is not a readable ONNX model"):
        load_onnx(garbage)


def test_saving_as_keras_is_refused_but_weights_round_trip(tmp_path):
    model = load_onnx(mlp_model())
    with pytest.raises(ValueError, match=r"was read from ONNX and has no Keras layers.*export"):
        model.save(str(tmp_path / "m.keras"))
    assert not (tmp_path / "m.keras").exists()
    x = rand(2, 6)
    want = model(x)
    model.save_weights(str(tmp_path / "m.weights.h5"))
    other = load_onnx(mlp_model())
    other.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_array_equal(other(x), want)


# -- fine-tuning ---------------------------------------------------------------------------------
def test_fit_fine_tunes_an_imported_mlp_and_the_loss_falls():
    inits = {"W1": 0.3 * rand(6, 16), "b1": np.zeros(16, np.float32), "W2": 0.3 * rand(3, 16),
             "b2": np.zeros(3, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Gemm", ["t", "W2", "b2"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["probs"])]
    model = load_onnx(make_model(nodes, [("x", F32, ["batch", 6])], [("probs", F32, ["batch", 3])], inits))
    before = [w.numpy().copy() for w in model.weights]
    x = rand(256, 6)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    model.compile(optimizer=horn.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0], losses
    assert history.history["accuracy"][-1] > 0.8
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))
    # Inference after fitting reads the updated weights in place.
    probs = model.predict(x, verbose=0)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == y))
    assert accuracy == pytest.approx(model.evaluate(x, y, verbose=0)[1], abs=1e-6)


def test_fit_uses_batch_statistics_and_moves_the_running_ones():
    inits = {"W": rand(4, 2, 1, 1), "s": np.ones(4, np.float32), "b": np.zeros(4, np.float32),
             "m": np.zeros(4, np.float32), "v": np.ones(4, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], momentum=0.5),
             helper.make_node("Dropout", ["bn", "ratio"], ["d"]),
             helper.make_node("GlobalAveragePool", ["d"], ["g"]),
             helper.make_node("Flatten", ["g"], ["y"])]
    inits["ratio"] = np.float32(0.25)
    model = load_onnx(make_model(nodes, [("x", F32, ["N", 2, 3, 3])], [("y", F32, ["N", 4])], inits))
    mean = next(w for w in model.weights if w.name == "m")
    x = 3 + rand(16, 2, 3, 3)
    inference = model(x)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((16, 4), np.float32), batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert not np.allclose(mean.numpy(), 0)   # moved halfway toward the batch mean
    assert not mean.trainable
    # Inference is deterministic: Dropout is the identity there.
    np.testing.assert_array_equal(model(x), model(x))
    assert inference.shape == (16, 4)
