"""How far ONNX Runtime is from Horn on Horn's own exported files, per seed model.

For the MLP, convnet-S and convnet-L (random weights, seeded), exports the
inference graph to ONNX (opset 17), runs the file in ONNX Runtime on the first
64 MNIST test images and prints the largest absolute difference from Horn's
compiled ``predict`` on the same images, plus whether the predicted classes
agree. MNIST comes from ``HORN_DATA_DIR`` when set (the offline copy), else it
is downloaded and checksummed.

    HORN_DATA_DIR=../shared/data python benchmarks/onnx_parity.py
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import horn as keras  # noqa: E402
from codegen.onnx import DEFAULT_OPSET, export_onnx  # noqa: E402
from tests.models.seed_models import convnet_l, convnet_s, mlp  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()

    import onnxruntime as ort

    (_, _), (x_test, _) = keras.datasets.mnist.load_data()
    images = x_test[:args.images].astype("float32") / 255.0
    results = {}
    print(f"ONNX Runtime {ort.__version__}, opset {args.opset}, {args.images} MNIST test images")
    print(f"{'model':<10} {'max |ORT - Horn|':>18} {'max |Horn|':>12} {'argmax agrees':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for build in (mlp, convnet_s, convnet_l):
            keras.utils.set_random_seed(args.seed)
            model = build(keras)
            x = images if build is mlp else images[..., None]
            path = str(Path(tmp) / f"{build.__name__}.onnx")
            export_onnx(model, path, opset=args.opset)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            want = model.predict(x, batch_size=args.images, verbose=0)
            diff = float(np.abs(got - want).max())
            agree = bool((got.argmax(-1) == want.argmax(-1)).all())
            results[build.__name__] = {"max_abs_diff": diff, "argmax_agrees": agree}
            print(f"{build.__name__:<10} {diff:>18.3e} {float(np.abs(want).max()):>12.3e} {str(agree):>14}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
