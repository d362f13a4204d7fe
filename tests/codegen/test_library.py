"""Ahead-of-time libraries: a C program and the ctypes loader against Horn's own predict and train step."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

import horn as keras
from codegen.library import LibraryBuildError, c_identifier, compile_library
from frontend.models.export import library_graphs
from runtime.native_library import NativeLibrary, NativeLibraryError
from tests.models import seed_models
from tests.native import build_driver, c_compiler, run_driver, write_tensors

pytestmark = pytest.mark.skipif(c_compiler() is None, reason="needs a C compiler (cc)")


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


class Built:
    """A model, the library compiled from it, and the C driver linked against that library."""

    def __init__(self, model, out_dir, **kwargs):
        self.model = model
        self.info = compile_library(model, out_dir, **kwargs)
        self.driver = build_driver(self.info.library, self.info.name, out_dir)
        self.dir = out_dir


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    model = seed_models.mlp(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return Built(model, tmp_path_factory.mktemp("mlp"), name="mlp")


@pytest.fixture(scope="module")
def convnet(tmp_path_factory):
    model = seed_models.convnet_s(keras)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="categorical_crossentropy")
    return Built(model, tmp_path_factory.mktemp("convnet"), name="convnet_s")


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    """Two inputs, two outputs, BatchNormalization statistics and Dropout's random key."""
    a, b = keras.Input((6,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras.layers.Dense(8, activation="tanh")(a), b])
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(0.3)(h)
    reg = keras.layers.Dense(2, name="reg")(h)
    cls = keras.layers.Dense(4, activation="softmax", name="cls")(h)
    model = keras.Model(inputs=[a, b], outputs=[reg, cls])
    model.compile(optimizer="adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 1.0})
    return Built(model, tmp_path_factory.mktemp("two_heads"), name="two_heads")


# -- the C program -----------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["mlp", "convnet"])
@pytest.mark.parametrize("batch", [1, 37])
def test_c_program_output_equals_predict(which, batch, request, tmp_path):
    built: Built = request.getfixturevalue(which)
    x = _x((batch,) + built.model.inputs[0].shape[1:], seed=batch)
    run_driver(built.driver, "predict", write_tensors(tmp_path / "x.bin", [x]), batch, tmp_path / "y.bin")
    got = np.fromfile(tmp_path / "y.bin", np.float32).reshape(batch, 10)
    want = built.model.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_c_program_two_inputs_two_outputs(two_heads, tmp_path):
    xa, xb = _x((5, 6), 1), _x((5, 3), 2)
    run_driver(two_heads.driver, "predict", write_tensors(tmp_path / "x.bin", [xa, xb]), 5, tmp_path / "y.bin")
    raw = np.fromfile(tmp_path / "y.bin", np.float32)
    want_reg, want_cls = two_heads.model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(raw[:10].reshape(5, 2), want_reg, rtol=0, atol=1e-6)
    np.testing.assert_allclose(raw[10:].reshape(5, 4), want_cls, rtol=0, atol=1e-6)


def test_c_program_sees_the_interface(mlp, two_heads):
    lines = run_driver(mlp.driver, "info").stdout.splitlines()
    f32, i32 = 1, 5                       # the header's dtype codes
    out = mlp.model.layers[-1].name       # layer names depend on what else this process built
    w = [v.path for v in mlp.model.weights]
    assert lines[0] == f"input 0 input {f32} 3 -1 28 28"
    assert lines[1] == f"output 0 {out} {f32} 2 -1 10"
    assert lines[2] == f"target 0 {out}_target {i32} 1 -1"    # sparse labels: int32, no class axis
    assert lines[3:7] == [f"weight 0 {w[0]} {f32} 2 784 128", f"weight 1 {w[1]} {f32} 1 128",
                          f"weight 2 {w[2]} {f32} 2 128 10", f"weight 3 {w[3]} {f32} 1 10"]
    assert lines[7] == "train 1"
    assert lines[8] == "out_of_range 1 -1 -1 1"
    info = run_driver(two_heads.driver, "info").stdout
    assert "input 1 b 1 2 -1 3" in info and "output 1 cls 1 2 -1 4" in info
    assert "target 0 reg_target 1 2 -1 2" in info and "target 1 cls_target 5 1 -1" in info
    # The BatchNormalization statistics are weights too, in get_weights() order.
    names = [w.name for w in two_heads.info.weights]
    assert names == [w.path for w in two_heads.model.weights] and any("moving_mean" in n for n in names)


def test_c_error_codes_and_messages(mlp, tmp_path):
    out = run_driver(mlp.driver, "errors", write_tensors(tmp_path / "x.bin", [_x((1, 28, 28))])).stdout
    got = dict(line.split(" ", 1) for line in out.splitlines())
    assert got["codes"] == "1 2 3 4 5 6"
    assert got["null_ctx"] == "1" and got["null_ctx_error"] == "the context is NULL"
    assert got["null_inputs"] == "1 inputs is NULL: expected an array of 1 pointer(s)"
    assert got["null_input0"] == "1 inputs[0] ('input') is NULL"
    assert got["null_outputs"].startswith("1 outputs is NULL")
    assert got["batch_zero"] == "2 batch must be a positive integer; received 0"
    assert got["batch_negative"] == "2 batch must be a positive integer; received -5"
    assert got["batch_huge"].startswith("2 batch 4611686018427387903 is too large")
    assert got["batch_oom"].startswith("3 could not allocate")
    assert got["ok"] == "0 []"              # a success clears the last error; the context still works
    assert got["bad_weight"] == "4 weight index 4 is out of range [0, 4)"
    assert got["null_weight_dst"] == f"1 dst is NULL (weight '{mlp.model.weights[0].path}')"
    assert got["null_create"] == "1"
    assert got["train_null_targets"] == "1 targets is NULL: expected an array of 1 pointer(s)"
    assert got["status"] == "bad batch size|a required pointer is NULL|unknown status"


def test_contexts_on_many_threads_agree_with_predict(convnet, tmp_path):
    x = _x((7, 28, 28, 1), 3)
    run_driver(convnet.driver, "threads", write_tensors(tmp_path / "x.bin", [x]), 7, tmp_path / "y.bin", 8)
    got = np.fromfile(tmp_path / "y.bin", np.float32).reshape(7, 10)
    np.testing.assert_allclose(got, convnet.model.predict(x, verbose=0), rtol=0, atol=1e-6)


def _train_in_c_and_python(built: Built, xs, ys, lr, tmp_path, steps=4):
    """Losses of ``steps`` C train steps and the C weights after the first, against one Python step."""
    model = built.model
    saved = model.get_weights()
    n = xs[0].shape[0]
    run_driver(built.driver, "train", write_tensors(tmp_path / "x.bin", xs), write_tensors(tmp_path / "y.bin", ys),
               n, repr(lr), steps, tmp_path / "out.bin")
    raw = np.fromfile(tmp_path / "out.bin", np.uint8)
    losses = raw[:4 * steps].view(np.float32)
    c_weights, off = [], 4 * steps
    for w in saved:
        c_weights.append(raw[off:off + w.nbytes].view(w.dtype).reshape(w.shape))
        off += w.nbytes
    assert off == raw.size
    model.optimizer.learning_rate = lr
    try:
        logs = model.train_on_batch(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0], return_dict=True)
        py_weights = model.get_weights()
    finally:
        model.set_weights(saved)            # other tests compare against the compiled-in weights
    return losses, logs["loss"], c_weights, py_weights


def test_train_step_in_c_equals_train_on_batch_and_learns(mlp, tmp_path):
    x = _x((32, 28, 28), 5)
    y = np.random.default_rng(5).integers(0, 10, 32)
    losses, py_loss, c_w, py_w = _train_in_c_and_python(mlp, [x], [y.astype(np.int32)], 1e-3, tmp_path)
    assert abs(losses[0] - py_loss) <= 1e-5
    for a, b in zip(c_w, py_w):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert np.all(np.diff(losses) < 0), losses       # the same batch again and again: the loss falls


def test_convnet_train_step_in_c_equals_train_on_batch(convnet, tmp_path):
    x = _x((16, 28, 28, 1), 6)
    y = np.eye(10, dtype=np.float32)[np.random.default_rng(6).integers(0, 10, 16)]
    losses, py_loss, c_w, py_w = _train_in_c_and_python(convnet, [x], [y], 0.05, tmp_path, steps=3)
    assert abs(losses[0] - py_loss) <= 1e-5
    for a, b in zip(c_w, py_w):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert losses[-1] < losses[0]


def test_train_step_with_dropout_batchnorm_and_two_losses(two_heads, tmp_path):
    rng = np.random.default_rng(7)
    xs = [_x((9, 6), 8), _x((9, 3), 9)]
    ys = [rng.normal(size=(9, 2)).astype(np.float32), rng.integers(0, 4, 9).astype(np.int32)]
    losses, py_loss, c_w, py_w = _train_in_c_and_python(two_heads, xs, ys, 1e-2, tmp_path)
    assert abs(losses[0] - py_loss) <= 1e-5       # the same dropout mask: [seed, step] as in Python
    for a, b, w in zip(c_w, py_w, two_heads.model.weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=w.path)
    with NativeLibrary(two_heads.info.library) as lib:   # another seed, another mask, another loss
        lib.set_seed(two_heads.model._seed + 1)
        assert abs(lib.train_step(xs, ys, learning_rate=1e-2) - losses[0]) > 1e-4


def test_library_depends_on_libc_libm_and_libgomp_only(convnet):
    so = convnet.info.library
    dynamic = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line}
    # libgomp (OpenMP) exactly when some kernel splits its loop across threads.
    threaded = "GOMP_parallel" in subprocess.run(["nm", "-D", "--undefined-only", str(so)], capture_output=True,
                                                 text=True, check=True).stdout
    assert needed <= {"libc.so.6", "libm.so.6", "libgomp.so.1"}, needed
    assert ("libgomp.so.1" in needed) == threaded == convnet.info.target.threads, (needed, threaded)
    assert ("libgomp" in (convnet.dir / "convnet_s.h").read_text()) == threaded
    assert "libLLVM" not in dynamic and "python" not in dynamic
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True,
                             check=True).stdout.split()[2::3]
    assert symbols and all(s.startswith("convnet_s_") for s in symbols), symbols   # kernels stay hidden
    assert "convnet_s_run" in symbols and "convnet_s_train_step" in symbols


def test_output_directory_holds_only_the_library_and_header(mlp):
    assert sorted(p.name for p in mlp.dir.iterdir() if not p.name.startswith("driver_")) == ["libmlp.so", "mlp.h"]
    header = (mlp.dir / "mlp.h").read_text()
    assert "embedded in libmlp.so" in header and "one context per thread" in header


# -- the Python loader ---------------------------------------------------------------------------------

def test_loader_predicts_as_the_model(convnet):
    with NativeLibrary(convnet.info.library) as lib:
        assert lib.inputs[0].shape == (None, 28, 28, 1) and lib.outputs[0].dtype == np.float32
        for n in (1, 37):
            x = _x((n, 28, 28, 1), n)
            np.testing.assert_allclose(lib.predict(x), convnet.model.predict(x, verbose=0), rtol=0, atol=1e-6)
        x = _x((10, 28, 28, 1), 11)
        np.testing.assert_array_equal(lib.predict(x, batch_size=3), lib.predict(x))
        with pytest.raises(ValueError, match=r"expected shape \(None, 28, 28, 1\)"):
            lib.predict(np.zeros((2, 28, 28), np.float32))


def test_loader_weights_are_per_context_copy_on_write(mlp):
    x = _x((4, 28, 28), 12)
    a, b = NativeLibrary(mlp.info.library), NativeLibrary(mlp.info.library)
    try:
        before = b.predict(x)
        weights = a.get_weights()
        for w, ref in zip(weights, mlp.model.get_weights()):
            np.testing.assert_array_equal(w, ref)
        a.set_weights([np.zeros_like(w) for w in weights])
        np.testing.assert_allclose(a.predict(x), 0.1, rtol=1e-6)       # zero weights: a uniform softmax
        np.testing.assert_array_equal(b.predict(x), before)            # the other context is untouched
        a.set_weights(weights)
        np.testing.assert_array_equal(a.predict(x), before)
        loss = a.train_step(x, np.arange(4, dtype=np.int32), learning_rate=1e-3)
        assert np.isfinite(loss) and not np.array_equal(a.predict(x), before)
        with pytest.raises(NativeLibraryError, match="learning_rate must be finite") as err:
            a.train_step(x, np.arange(4, dtype=np.int32), learning_rate=float("nan"))
        assert err.value.status == 5
    finally:
        a.close()
        b.close()


def test_library_without_train_step(tmp_path):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    info = compile_library(model, tmp_path, name="tiny")
    assert not info.has_train_step and info.targets == ()
    lib = NativeLibrary(info.library)
    x = _x((6, 5))
    np.testing.assert_allclose(lib.predict(x), model.predict(x, verbose=0), rtol=0, atol=1e-6)
    status = lib._fn("train_step")(lib._ctx, 1, None, None, None, 0.1, None)
    assert status == 6 and "without a train step" in lib._fn("last_error")(lib._ctx).decode()
    with pytest.raises(NativeLibraryError, match="without a train step"):
        lib.train_step(x, x)


def test_bare_graph_and_subclassed_models(tmp_path):
    tiny = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid")])
    graph = library_graphs(tiny).forward
    lib = NativeLibrary(compile_library(graph, tmp_path / "g", name="graph_lib").library)
    x = _x((3, 4))
    np.testing.assert_allclose(lib.predict(x), tiny.predict(x, verbose=0), rtol=0, atol=1e-6)

    sub = seed_models.two_dense_subclass(keras)
    with pytest.raises(ValueError, match="input_shapes"):
        compile_library(sub, tmp_path / "s")
    info = keras.compile_library(sub, tmp_path / "s", input_shapes=[(16,)])
    x = _x((5, 16))
    np.testing.assert_allclose(keras.load_library(info.library).predict(x), sub.predict(x, verbose=0),
                               rtol=0, atol=1e-6)


def test_compile_library_argument_errors(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must be a C identifier"):
        compile_library(model, tmp_path, name="9lives")
    with pytest.raises(ValueError, match=r"call `model.compile\(optimizer=..., loss=...\)` first"):
        compile_library(model, tmp_path, train_step=True)
    with pytest.raises(ValueError, match="Unknown target 'sparc'"):
        compile_library(model, tmp_path, target="sparc")
    assert c_identifier("my-model 1", explicit=False) == "my_model_1"
    assert c_identifier("1st", explicit=False) == "m_1st" and c_identifier("m", explicit=False) == "m_m"
    with pytest.raises(ValueError, match="would shadow the system library"):
        compile_library(model, tmp_path, name="m")
    assert not any(tmp_path.iterdir())        # nothing half-written


def test_compiling_a_library_leaves_python_training_unchanged(tmp_path):
    """The library traces the step with default targets; Python still resolves its own losses."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="crossentropy", metrics=["accuracy"])
    info = compile_library(model, tmp_path, name="ce")
    assert info.targets[0].shape == (-1, 3)      # "crossentropy" on a guess: categorical targets
    x, y = _x((6, 4)), np.arange(6) % 3          # Python trains with sparse labels all the same
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"} and np.isfinite(logs["loss"])


def test_link_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(LibraryBuildError, match="No C compiler .* found"):
        compile_library(model, tmp_path / "out", name="x")
    assert not any(p for p in (tmp_path / "out").iterdir())
