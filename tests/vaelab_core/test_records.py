"""vaelab_core.records.plain: what a result check records becomes plain JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from vaelab_core.records import plain


def test_tensors_arrays_and_numpy_scalars_become_json():
    value = {1: torch.tensor([1.5, 2.0]), "a": np.float32(0.25), "b": (np.arange(2), range(2))}
    assert plain(value) == {"1": [1.5, 2.0], "a": 0.25, "b": [[0, 1], [0, 1]]}
    json.dumps(plain(value))


def test_a_zero_dimensional_tensor_is_a_number_and_nan_stays_nan():
    assert plain(torch.tensor([1.0, 3.0]).mean()) == 2.0  # a loss's .mean(): not iterable
    assert plain(np.array(7)) == 7
    assert math.isnan(plain(torch.tensor(float("nan"))))
