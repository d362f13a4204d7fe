"""The MNIST convnet of the quick start, predicted with Horn's generated native code.

Run: HORN_DATA_DIR=../shared/data python examples/mnist_convnet.py
(without HORN_DATA_DIR the loader downloads MNIST and verifies its checksums).
Training arrives with the training issue; until then the weights are the
initializers' and this shows the compile-and-predict path end to end.
"""
import time

import numpy as np

import horn as keras
from ir import interpret


def main() -> None:
    (_, _), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_test = (x_test.astype("float32") / 255.0)[..., None]

    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.summary()

    start = time.perf_counter()
    one = model(x_test[:1])                        # traces, optimizes, compiles, runs batch 1
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    probs = model.predict(x_test, batch_size=128)  # the same executable, batch 128
    predict_s = time.perf_counter() - start

    exe = next(iter(model._executables.values()))
    reference = interpret(exe.graph, [x_test[:64]])[0]
    err = float(np.max(np.abs(probs[:64] - reference)))
    print(f"compiled {exe.kernel_count} kernels in {compile_s:.2f} s (trace + passes + LLVM)")
    print(f"predict: {len(x_test)} images in {predict_s:.3f} s = {len(x_test) / predict_s:,.0f} images/s")
    print(f"batch-1 output matches batch-128 output: {np.allclose(one, probs[:1], rtol=1e-5, atol=1e-7)}")
    print(f"max |compiled - reference interpreter| on 64 images: {err:.2e}")
    acc = float(np.mean(np.argmax(probs, axis=1) == y_test))
    print(f"accuracy with untrained weights (chance is ~0.10): {acc:.3f}")
    if err > 1e-5:
        raise SystemExit("compiled output disagrees with the reference interpreter")


if __name__ == "__main__":
    main()
