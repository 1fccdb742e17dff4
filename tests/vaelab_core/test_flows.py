"""vaelab_core.flows: chains fitted together (in one loop, or in groups side by side) are the fits made
one by one, to the bit."""

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


def test_the_figure_reads_the_samples_of_the_free_energies_and_no_caller_can_alter_them():
    fitted = flows.fit_densities(2, _chain, _free_energy, flows.DensityFit(steps=5))
    calls = []

    def counted(*args):
        calls.append(1)
        return _chain(*args)

    def in_place(log_q, log_p):  # a free energy that overwrites its input
        value = (log_q - log_p).mean()
        log_q.zero_()
        return value

    first = flows.final_free_energy(fitted, counted, in_place, n=2_000)
    again = flows.final_free_energy(fitted, counted, in_place, n=2_000)
    assert first == again and len(calls) == 1  # drawn once, and the copy given out was what changed
    z_k, _ = flows.samples(fitted, counted, n=2_000)
    assert len(calls) == 1 and z_k.shape == (len(flows.TARGETS), 2_000, 2)
    flows.samples(fitted, _chain, n=2_000)  # another function: drawn again
    assert len(fitted.drawn) == 2
    refitted = flows.fit_densities(2, _chain, _free_energy, flows.DensityFit(steps=5))
    assert not refitted.drawn  # new chains, no samples yet


def test_a_chain_that_returns_z_k_of_another_shape_is_told_what_to_return():
    def flattened(z0, log_q0, u, w, b):
        z_k, log_q = _chain(z0, log_q0, u, w, b)
        return z_k.flatten(0, 1), log_q

    with pytest.raises(ValueError, match="must return z_K shaped like z0"):
        flows.fit_chains((2, 8), flattened, _free_energy, flows.DensityFit(steps=2))
