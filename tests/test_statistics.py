"""Measured spread vs theory, with tolerances from the standard error.

For n i.i.d. values with standard deviation s and kurtosis k, the sample
standard deviation has standard error ``s * sqrt((k - 1) / (4 n))``.  We accept
|measured - expected| < 5 standard errors (two-sided p ~ 6e-7 for a correct
initializer); seeds are fixed, so the verdict is the same on every run.
"""
import math

import numpy as np
import pytest

import compat_init as ci
from compat_init import _fans

# Kurtosis (not excess): uniform 9/5; normal truncated at +-2 sigma 2.7737; normal 3.
KURTOSIS = {"uniform": 1.8, "truncated_normal": 2.7737, "untruncated_normal": 3.0}
Z = 5.0
CASES = [
    ("glorot_uniform", (300, 400), 1.0, "fan_avg", "uniform"),
    ("glorot_normal", (3, 3, 64, 128), 1.0, "fan_avg", "truncated_normal"),
    ("he_uniform", (3, 3, 64, 8), 2.0, "fan_in", "uniform"),
    ("he_normal", (512, 256), 2.0, "fan_in", "truncated_normal"),
    ("lecun_uniform", (1000, 100), 1.0, "fan_in", "uniform"),
    ("lecun_normal", (5, 5, 32, 64), 1.0, "fan_in", "truncated_normal"),
]


@pytest.mark.parametrize("name,shape,scale,mode,distribution", CASES)
@pytest.mark.parametrize("seeded", [True, False])
def test_spread_matches_theory(context, name, shape, scale, mode, distribution, seeded):
    make = (lambda: getattr(ci, name)(seed=21)) if seeded else (lambda: getattr(ci, name)())
    values = context.draw(make, shape, global_seed=3).astype(np.float64).ravel()
    fan_in, fan_out = ci.compute_fans(shape)
    variance = _fans.scaled_variance(scale, mode, fan_in, fan_out)
    expected_std = math.sqrt(variance)
    n = values.size
    std_error = expected_std * math.sqrt((KURTOSIS[distribution] - 1.0) / (4.0 * n))
    assert abs(values.std() - expected_std) < Z * std_error
    # mean: standard error s / sqrt(n)
    assert abs(values.mean()) < Z * expected_std / math.sqrt(n)
    bound = _fans.spread(variance, distribution) * (1.0 if distribution == "uniform" else 2.0)
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    # the bound is approached: a sample this large reaches 99 % of it
    assert np.abs(values).max() > 0.99 * bound
