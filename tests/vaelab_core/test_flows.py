"""vaelab_core.flows: fitting several chains side by side gives the fits made one after the other."""

from __future__ import annotations

import pytest
import torch

from vaelab_core import flows


def _chain(z0, log_q0, u, w, b):
    """K planar flows (u unconstrained: enough for a fit of a few steps)."""
    z, log_q = z0, log_q0
    for k in range(u.shape[-2]):
        u_k, w_k = u[..., k, :], w[..., k, :]
        h = torch.tanh((w_k * z).sum(-1) + b[..., k])
        log_q = log_q - torch.log(torch.abs(1 + ((1 - h ** 2).unsqueeze(-1) * w_k * u_k).sum(-1)))
        z = z + u_k * h.unsqueeze(-1)
    return z, log_q


def _free_energy(log_q, log_p):
    return (log_q - log_p).mean()


@pytest.mark.parametrize("threads", [1, 2])
def test_chains_fitted_side_by_side_are_the_chains_fitted_one_by_one(threads):
    config = flows.DensityFit(steps=30, seed=3)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        together = flows.fit_chains((2, 8, 4), _chain, _free_energy, config)
    finally:
        torch.set_num_threads(before)
    assert list(together) == [2, 8, 4]  # in the order asked
    for k, fitted in together.items():
        alone = flows.fit_densities(k, _chain, _free_energy, config)
        assert fitted.n_flows == k
        for name in ("u", "w", "b", "history"):
            assert torch.equal(getattr(fitted, name), getattr(alone, name)), (k, name)
