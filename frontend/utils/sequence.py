"""``keras.utils.pad_sequences``."""
from __future__ import annotations

import numpy as np


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pads (or truncates) a list of sequences to one length: a ``(num_samples, maxlen, ...)`` array.

    Args:
        sequences: a list of sequences (lists or arrays; items may themselves be arrays).
        maxlen: the length; default the longest sequence.
        dtype: the output dtype (``object`` for variable-length strings).
        padding: "pre" or "post": where the padding goes.
        truncating: "pre" or "post": which end of a long sequence is cut.
        value: the padding value.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    num_samples = len(sequences)
    lengths = []
    sample_shape: tuple = ()
    found_shape = False
    for x in sequences:
        try:
            lengths.append(len(x))
        except TypeError as exc:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {x}") from exc
        if not found_shape and len(x):
            # Item shape from the first non-empty sequence; the rest must agree.
            sample_shape = np.asarray(x).shape[1:]
            found_shape = True
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    is_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         "You should set `dtype=object` for variable length strings.")
    out = np.full((num_samples, maxlen) + tuple(sample_shape), value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        if truncating == "pre":
            trunc = s[-maxlen:] if maxlen else s[:0]
        elif truncating == "post":
            trunc = s[:maxlen]
        else:
            raise ValueError(f'Truncating type "{truncating}" not understood')
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} is "
                             f"different from expected shape {sample_shape}")
        if not len(trunc):
            continue
        if padding == "post":
            out[idx, :len(trunc)] = trunc
        elif padding == "pre":
            out[idx, -len(trunc):] = trunc
        else:
            raise ValueError(f'Padding type "{padding}" not understood')
    return out
