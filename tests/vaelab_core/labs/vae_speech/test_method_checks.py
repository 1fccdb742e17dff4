"""vae_speech's self-checks pass the reference and catch the typical mistakes with the right message."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from grader.assignment import assignment, default_solutions, load_reference
from vaelab_core import spec
from vaelab_core.labs.vae_speech import method_checks
from vaelab_core.model import SpeechVAEBase

Reference = load_reference(default_solutions())


def variant(**methods):
    """The reference with some methods replaced."""
    return type("Variant", (Reference,), methods)


def test_reference_passes_every_check(capsys):
    method_checks.check_all(Reference)
    out = capsys.readouterr().out
    assert out.count("✓") == 5


@pytest.mark.parametrize("check", [method_checks.check_build, method_checks.check_generation_x,
                                   method_checks.check_reparametrization, method_checks.check_inference,
                                   method_checks.check_get_loss])
def test_a_stub_is_not_implemented_yet_not_a_traceback(check):
    class Stub(SpeechVAEBase):
        pass

    with pytest.raises(method_checks.SelfCheckFailed, match="not implemented yet"):
        check(Stub)


def test_failure_renders_without_traceback_in_jupyter():
    err = method_checks.SelfCheckFailed("get_loss", "expected 1, got 2")
    lines = err._render_traceback_()
    assert any("get_loss" in line for line in lines) and "expected 1, got 2" in lines
    assert not any("Traceback" in line for line in lines)


# --- typical mistakes --------------------------------------------------------------------------

def kl_without_half(self, x, eta, mean, logvar):
    recon = (spec.LOG_PI + eta + x.pow(2) * torch.exp(-eta)).sum(-1).mean()
    kl = -(1 + logvar - mean.pow(2) - torch.exp(logvar)).sum(-1).mean()
    return recon + kl, recon, kl


def eta_as_variance(self, x, eta, mean, logvar):
    recon = (spec.LOG_PI + torch.log(eta) + x.pow(2) / eta).sum(-1).mean()
    kl = -0.5 * (1 + logvar - mean.pow(2) - torch.exp(logvar)).sum(-1).mean()
    return recon + kl, recon, kl


def sum_over_frames(self, x, eta, mean, logvar):
    recon = (spec.LOG_PI + eta + x.pow(2) * torch.exp(-eta)).sum()
    kl = -0.5 * (1 + logvar - mean.pow(2) - torch.exp(logvar)).sum()
    return recon + kl, recon, kl


def without_log_pi(self, x, eta, mean, logvar):
    recon = (eta + x.pow(2) * torch.exp(-eta)).sum(-1).mean()
    kl = -0.5 * (1 + logvar - mean.pow(2) - torch.exp(logvar)).sum(-1).mean()
    return recon + kl, recon, kl


def std_as_logvar(self, mean, logvar):
    return mean + logvar * torch.randn_like(mean)


def exp_logvar_as_std(self, mean, logvar):
    return mean + torch.exp(logvar) * torch.randn_like(mean)


def no_noise(self, mean, logvar):
    return mean + torch.exp(0.5 * logvar)


def detached_sample(self, mean, logvar):
    return (mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)).detach()


def exp_eta(self, z):
    return torch.exp(self.gen_logvar(self.mlp_z_x(z)))


def swapped_outputs(self, x):
    hidden = self.mlp_x_z(x)
    mean, logvar = self.inf_mean(hidden), self.inf_logvar(hidden)
    return mean, logvar, self.reparametrization(mean, logvar)


def relu_build(self):
    def dense(sizes):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers)
    Reference.build(self)
    self.mlp_x_z = dense((self.x_dim, *self.encoder_hidden))


def wrong_sizes_build(self):
    Reference.build(self)
    self.mlp_z_x = nn.Sequential(nn.Linear(self.z_dim, 64), nn.Tanh(), nn.Linear(64, 256), nn.Tanh())


def renamed_build(self):
    Reference.build(self)
    self.decoder_head = self.gen_logvar
    del self.gen_logvar


MISTAKES = [
    ("get_loss", {"get_loss": kl_without_half}, "factor 1/2 is missing"),
    ("get_loss", {"get_loss": eta_as_variance}, "eta was used as the variance"),
    ("get_loss", {"get_loss": sum_over_frames}, "average over frames"),
    ("get_loss", {"get_loss": without_log_pi}, "log(pi)"),
    ("reparametrization", {"reparametrization": std_as_logvar}, "logvar was used as the standard deviation"),
    ("reparametrization", {"reparametrization": exp_logvar_as_std}, "exp(logvar) was used as the standard deviation"),
    ("reparametrization", {"reparametrization": no_noise}, "fresh noise"),
    ("reparametrization", {"reparametrization": detached_sample}, "no gradient reaches mean"),
    ("generation_x", {"generation_x": exp_eta}, "LOG-variance"),
    ("inference", {"inference": swapped_outputs}, "return (z, mean, logvar) in this order"),
    ("build", {"build": relu_build}, "tanh"),
    ("build", {"build": wrong_sizes_build}, "mlp_z_x should be dense layers"),
    ("build", {"build": renamed_build}, "no layer called 'gen_logvar'"),
]


@pytest.mark.parametrize("method, methods, message", MISTAKES, ids=[m[2] for m in MISTAKES])
def test_each_typical_mistake_fails_with_a_teaching_message(method, methods, message):
    check = getattr(method_checks, f"check_{method}")
    with pytest.raises(method_checks.SelfCheckFailed) as failure:
        check(variant(**methods))
    assert message in str(failure.value)
    assert failure.value.method == method


def test_get_loss_matches_an_independent_formula_on_random_inputs():
    """The reference loss is the handout's negative ELBO exactly, constants included."""
    torch.manual_seed(0)
    model = Reference()
    x = torch.rand(3, 7, spec.N_FREQ) * 4
    eta = torch.randn(3, 7, spec.N_FREQ)
    mean, logvar = torch.randn(3, 7, spec.LATENT_DIM), torch.randn(3, 7, spec.LATENT_DIM)
    loss, recon, kl = model.get_loss(x, eta, mean, logvar)
    # the same quantities frame by frame in float64 with plain Python math
    frames = [(i, j) for i in range(3) for j in range(7)]
    want_recon = sum(sum(math.log(math.pi) + e + v * v / math.exp(e)
                         for v, e in zip(x[i, j].double().tolist(), eta[i, j].double().tolist()))
                     for i, j in frames) / len(frames)
    want_kl = sum(0.5 * sum(math.exp(lv) + m * m - 1 - lv
                            for m, lv in zip(mean[i, j].tolist(), logvar[i, j].tolist()))
                  for i, j in frames) / len(frames)
    assert recon.item() == pytest.approx(want_recon, rel=1e-5)
    assert kl.item() == pytest.approx(want_kl, rel=1e-5)
    assert loss.item() == pytest.approx(want_recon + want_kl, rel=1e-5)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    model = Reference()
    zeros = torch.zeros(2, 5, spec.LATENT_DIM)
    x = torch.ones(2, 5, spec.N_FREQ)
    assert model.get_loss(x, torch.zeros_like(x), zeros, zeros)[2].item() == pytest.approx(0.0, abs=1e-7)
    torch.manual_seed(1)
    kl = model.get_loss(x, torch.zeros_like(x), torch.randn_like(zeros), torch.randn_like(zeros))[2]
    assert kl.item() > 0


def test_checks_leave_the_notebooks_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    method_checks.check_all(Reference)
    assert torch.equal(torch.rand(3), expected)


def test_the_hand_computed_constants_follow_the_handout():
    """method_checks states its special cases as numbers; here they are derived from the formulas."""
    log_pi, log4 = math.log(math.pi), math.log(4.0)
    assert method_checks.RECON_PER_BIN == pytest.approx(log_pi + log4 + 4.0 / 4.0, rel=1e-12)
    assert method_checks.RECON_PER_BIN_ETA_AS_VARIANCE == pytest.approx(log_pi + math.log(log4) + 4.0 / log4, rel=1e-12)
    assert method_checks.RECON_PER_BIN_X_NOT_SQUARED == pytest.approx(log_pi + log4 + 2.0 / 4.0, rel=1e-12)
    assert method_checks.KL_PER_DIMENSION == pytest.approx(-0.5 * (1 + math.log(2.0) - 1.0 - 2.0), rel=1e-12)


def _example_model(source: str) -> type:
    """The SpeechVAE class that an example submission's model cell defines."""
    namespace = {"SpeechVAEBase": SpeechVAEBase, "nn": nn, "torch": torch}
    exec(source, namespace)
    return namespace["SpeechVAE"]


#: A ModuleList walked with functional tanh, the handout's architecture in other containers: the
#: example submission's own cell (solutions/vae_speech/examples.py), so that the public checks
#: here and the hidden tests are tried on the same code.
ModuleListFunctionalTanh = _example_model(assignment(default_solutions(), "vae_speech").examples().MODULE_LIST)


def test_other_equivalent_containers_pass_every_check(capsys):
    """A ModuleList walked with functional tanh is the same architecture: no check may object."""
    method_checks.check_all(ModuleListFunctionalTanh)
    assert capsys.readouterr().out.count("✓") == 5
