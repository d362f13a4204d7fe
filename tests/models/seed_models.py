"""The seed models of the issues, built with any Keras-compatible module (horn or keras)."""
from __future__ import annotations


def mlp(k):
    return k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(128, activation="relu"),
                         k.layers.Dense(10, activation="softmax")])


def convnet_s(k):
    return k.Sequential([
        k.Input((28, 28, 1)),
        k.layers.Conv2D(32, 3, activation="relu"), k.layers.MaxPooling2D(),
        k.layers.Conv2D(64, 3, activation="relu"), k.layers.MaxPooling2D(),
        k.layers.Flatten(), k.layers.Dense(128, activation="relu"), k.layers.Dense(10, activation="softmax"),
    ])


def convnet_l(k):
    return k.Sequential([
        k.Input((28, 28, 1)),
        k.layers.Conv2D(64, 3, activation="relu"), k.layers.Conv2D(64, 3, activation="relu"),
        k.layers.MaxPooling2D(),
        k.layers.Conv2D(128, 3, activation="relu"), k.layers.Conv2D(128, 3, activation="relu"),
        k.layers.GlobalAveragePooling2D(), k.layers.Dropout(0.5), k.layers.Dense(10, activation="softmax"),
    ])


def functional_convnet(k):
    inputs = k.Input(shape=(28, 28, 1))
    x = k.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Flatten()(x)
    outputs = k.layers.Dense(10, activation="softmax")(x)
    return k.Model(inputs=inputs, outputs=outputs)


def two_dense_subclass(k):
    class TwoDense(k.Model):
        def __init__(self):
            super().__init__()
            self.hidden = k.layers.Dense(32, activation="relu")
            self.out = k.layers.Dense(10)

        def call(self, x):
            return k.ops.softmax(self.out(self.hidden(x)))

    return TwoDense()
