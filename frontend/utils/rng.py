"""``keras.utils.set_random_seed``."""
from __future__ import annotations

import random

import numpy as np


def set_random_seed(seed: int) -> None:
    """Seeds Python's ``random``, numpy's global generator, Horn's unseeded initializers and
    ``horn.random``'s default seed generator (dropout and other draws without a seed)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed} "
                         f"(of type {type(seed)})")
    from frontend import initializers
    from frontend import random as horn_random

    random.seed(seed)
    np.random.seed(seed)
    initializers.set_seed(seed)
    horn_random.set_seed(seed)
