"""The machinery the labs' checks share, and its one diagnosis ladder: each typical mistake of the
negative ELBO or of the reparametrization, computed here from the handout's formulas with the
mistake made, is named; a correct or unexplained value is not."""

from __future__ import annotations

import math

import pytest
import torch

from vaelab_core import spec
from vaelab_core.checking import (SelfCheckFailed, call, checked_tensor, kl_mistake, own_random_state, recon_mistake,
                                  variance_mistake)

B, T, F, Z = 3, 4, 9, 5
FRAMES = B * T


def recon(x, eta, log_pi=spec.LOG_PI, reduce="frames"):
    """The handout's reconstruction term (eq. (2)), summed over bins, averaged over frames."""
    per_bin = log_pi + eta + x.pow(2) * torch.exp(-eta)
    if reduce == "sum":
        return per_bin.sum(-1).sum().item()
    if reduce == "bins":
        return per_bin.mean(-1).mean().item()
    return per_bin.sum(-1).mean().item()


def kl(mean, logvar, half=0.5, reduce="frames"):
    per_dim = -half * (1 + logvar - mean.pow(2) - logvar.exp())
    if reduce == "sum":
        return per_dim.sum(-1).sum().item()
    if reduce == "dims":
        return per_dim.mean(-1).mean().item()
    return per_dim.sum(-1).mean().item()


@pytest.fixture
def inputs():
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(B, T, F, generator=gen, dtype=torch.float64) * 3,
            torch.randn(B, T, F, generator=gen, dtype=torch.float64),
            torch.randn(B, T, Z, generator=gen, dtype=torch.float64),
            torch.randn(B, T, Z, generator=gen, dtype=torch.float64))


def test_recon_mistakes_are_named(inputs):
    x, eta, _, _ = inputs
    want = recon(x, eta)
    assert recon_mistake(want, want, frames=FRAMES, bins=F) is None
    assert "log(pi) of each bin is missing" in recon_mistake(recon(x, eta, log_pi=0.0), want, frames=FRAMES, bins=F)
    assert "counted twice" in recon_mistake(recon(x, eta, log_pi=2 * spec.LOG_PI), want, frames=FRAMES, bins=F)
    assert "average over frames" in recon_mistake(recon(x, eta, reduce="sum"), want, frames=FRAMES, bins=F)
    assert "sum over the frequency bins" in recon_mistake(recon(x, eta, reduce="bins"), want, frames=FRAMES, bins=F)
    assert recon_mistake(want + 1.0, want, frames=FRAMES, bins=F) is None


def test_recon_mistakes_that_depend_on_the_inputs_are_named_when_given():
    x, eta = torch.full((B, T, F), 2.0), torch.full((B, T, F), math.log(4.0))
    want = recon(x, eta)
    as_variance = (spec.LOG_PI + torch.log(eta) + x.pow(2) / eta).sum(-1).mean().item()
    not_squared = (spec.LOG_PI + eta + x.abs() * torch.exp(-eta)).sum(-1).mean().item()
    assert recon_mistake(as_variance, want, frames=FRAMES, bins=F) is None
    assert "eta was used as the variance" in recon_mistake(as_variance, want, frames=FRAMES, bins=F,
                                                           if_eta_is_variance=as_variance)
    assert "x^2" in recon_mistake(not_squared, want, frames=FRAMES, bins=F, if_x_not_squared=not_squared)


def test_kl_mistakes_are_named(inputs):
    _, _, mean, logvar = inputs
    want = kl(mean, logvar)
    assert kl_mistake(want, want, frames=FRAMES, dims=Z) is None
    assert "factor 1/2 is missing" in kl_mistake(kl(mean, logvar, half=1.0), want, frames=FRAMES, dims=Z)
    assert "wrong sign" in kl_mistake(kl(mean, logvar, half=-0.5), want, frames=FRAMES, dims=Z)
    assert "average over frames" in kl_mistake(kl(mean, logvar, reduce="sum"), want, frames=FRAMES, dims=Z)
    assert "sum over them" in kl_mistake(kl(mean, logvar, reduce="dims"), want, frames=FRAMES, dims=Z)
    assert kl_mistake(math.nan, want, frames=FRAMES, dims=Z) is None


@pytest.mark.parametrize("std, words", [(lambda lv: lv.exp(), "exp(logvar) was used as the standard deviation"),
                                        (lambda lv: lv, "logvar was used as the standard deviation"),
                                        (lambda lv: torch.ones_like(lv), "not scaled"),
                                        (lambda lv: 0.01 * torch.ones_like(lv), "hardly vary")])
def test_variance_mistakes_are_named(std, words):
    logvar = torch.tensor([-1.5, -0.8, 0.7, 1.5])
    assert words in variance_mistake(std(logvar).pow(2), logvar)
    assert variance_mistake(logvar.exp(), logvar) is None
    assert words in variance_mistake(float(std(logvar[1]).pow(2)), -0.8)  # one number, as the grader has


def test_call_turns_errors_into_messages_with_the_hint():
    def broken(x):
        raise KeyError("oops")

    def stub(x):
        raise NotImplementedError

    with pytest.raises(SelfCheckFailed, match=r"raised KeyError: 'oops'\. Look here\.") as failure:
        call("f", broken, 1, hint="Look here.")
    assert failure.value.method == "f"
    with pytest.raises(SelfCheckFailed, match="not implemented yet") as failure:
        call("f", stub, 1, hint="Look here.")
    assert "Look here" not in failure.value.message


def test_checked_tensor_says_what_is_wrong():
    assert torch.equal(checked_tensor("f", "z", torch.ones(2, 3), (2, 3)), torch.ones(2, 3))
    for value, words in (([1.0], "torch.Tensor"), (torch.ones(3, 2), "shape (2, 3)"),
                         (torch.ones(2, 3, dtype=torch.float64), "float32"), (torch.full((2, 3), math.nan), "NaN")):
        with pytest.raises(SelfCheckFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
            checked_tensor("f", "z", value, (2, 3))


def test_own_random_state_leaves_the_callers_generator_alone():
    @own_random_state
    def draws(n):
        torch.manual_seed(1)
        return torch.rand(n)

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    draws(5)
    assert torch.equal(torch.rand(3), expected)
