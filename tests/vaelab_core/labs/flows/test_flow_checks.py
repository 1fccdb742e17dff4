"""The flows lab's self-checks (flow_checks, chain_checks, model_checks) pass correct code and catch the typical mistakes.

The correct implementations below are the tests' reference oracle: they live here, never in
`vaelab_core`, which students have installed. Each mistake is a small mutation of one of them.
`FlowVAEBase` is this file's copy of the notebook's locked cell (the spec's definition), so that
the checks are tested against the interface, not against one notebook's weights.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vaelab_core import spec
from vaelab_core.checking import SelfCheckFailed
from vaelab_core.labs.flows import chain_checks, flow_checks, model_checks
from vaelab_core.model import SpeechVAEBase

LOG_2PI = math.log(2 * math.pi)

# --- correct implementations (the oracle) ------------------------------------------------------


def planar_flow(z, u, w, b):
    a = (w * z).sum(-1) + b
    h = torch.tanh(a)
    f_z = z + u * h.unsqueeze(-1)
    psi = (1 - h ** 2).unsqueeze(-1) * w
    log_det = torch.log(torch.abs(1 + (psi * u).sum(-1)))
    return f_z, log_det


def planar_flow_another_way(z, u, w, b):
    """u^T psi = (w^T u) h'(a), h' = sech^2 = 1 / cosh^2, einsum for the dot products."""
    a = torch.einsum("...d,...d->...", w.expand_as(z), z) + b
    f_z = torch.addcmul(z, u, torch.tanh(a)[..., None])
    log_det = torch.log(torch.abs(1 + (w * u).sum(-1) * torch.cosh(a).pow(-2)))
    return f_z, log_det


def constrain_u(u, w):
    a = (w * u).sum(-1, keepdim=True)
    m = -1 + F.softplus(a)
    return u + (m - a) * w / (w * w).sum(-1, keepdim=True)


def constrain_u_another_way(u, w):
    a = torch.einsum("...d,...d->...", u, w)[..., None]
    m = torch.log1p(torch.exp(a)) - 1
    return u + (m - a) / w.norm(dim=-1, keepdim=True) ** 2 * w


def flow_chain(z0, log_q0, u, w, b):
    z, log_q = z0, log_q0
    for k in range(u.shape[-2]):
        w_k = w[..., k, :]
        z, log_det = planar_flow(z, constrain_u(u[..., k, :], w_k), w_k, b[..., k])
        log_q = log_q - log_det
    return z, log_q


class PlanarStep(nn.Module):
    """One flow as a module (the parameters are given, not learnt, here)."""

    def __init__(self, u, w, b):
        super().__init__()
        self.u, self.w, self.b = u, w, b

    def forward(self, z):
        return planar_flow_another_way(z, constrain_u_another_way(self.u, self.w), self.w, self.b)


def flow_chain_modules(z0, log_q0, u, w, b):
    """The flows as one nn.Module per step, the log-dets stacked and summed at the end."""
    steps = nn.Sequential(*[PlanarStep(u[..., k, :], w[..., k, :], b[..., k]) for k in range(u.shape[-2])])
    z, log_dets = z0, []
    for step in steps:
        z, log_det = step(z)
        log_dets.append(log_det)
    if not log_dets:
        return z0, log_q0
    return z, log_q0 - torch.stack(log_dets).sum(0)


def free_energy(log_q, log_p):
    return (log_q - log_p).mean()


def free_energy_another_way(log_q, log_p):
    return torch.mean(log_q) - torch.mean(log_p)


class FlowVAEBase(SpeechVAEBase):
    """The notebook's locked cell (solutions/flows/flows.ipynb, flow_model_base), the same layout:
    lab 1's layers, inf_flow only when there are flows, its output split into u, w and b blocks."""

    def __init__(self, n_flows=0, **kwargs):
        self.n_flows = n_flows
        super().__init__(**kwargs)

    def build(self):
        def dense(sizes):
            return nn.Sequential(*[m for a, b in itertools.pairwise(sizes) for m in (nn.Linear(a, b), nn.Tanh())])
        enc, dec = (self.x_dim, *self.encoder_hidden), (self.z_dim, *self.decoder_hidden)
        self.mlp_x_z, self.mlp_z_x = dense(enc), dense(dec)
        self.inf_mean, self.inf_logvar = nn.Linear(enc[-1], self.z_dim), nn.Linear(enc[-1], self.z_dim)
        self.gen_logvar = nn.Linear(dec[-1], self.x_dim)
        if self.n_flows:
            self.inf_flow = nn.Linear(enc[-1], self.n_flows * (2 * self.z_dim + 1))

    def flow_parameters(self, h):
        k, z = self.n_flows, self.z_dim
        if not k:
            return h.new_zeros(*h.shape[:-1], 0, z), h.new_zeros(*h.shape[:-1], 0, z), h.new_zeros(*h.shape[:-1], 0)
        p = self.inf_flow(h)
        return p[..., :k * z].unflatten(-1, (k, z)), p[..., k * z:2 * k * z].unflatten(-1, (k, z)), p[..., 2 * k * z:]

    def reparametrization(self, mean, logvar):
        return mean + torch.exp(logvar / 2) * torch.randn_like(mean)

    def generation_x(self, z):
        return self.gen_logvar(self.mlp_z_x(z))

    def loss(self, x):
        z_k, log_q_k, _mean, _logvar = self.inference(x)
        eta = self.generation_x(z_k)
        return self.get_loss(x, eta, z_k, log_q_k)


class FlowVAE(FlowVAEBase):
    def inference(self, x):
        h = self.mlp_x_z(x)
        mean, logvar = self.inf_mean(h), self.inf_logvar(h)
        u, w, b = self.flow_parameters(h)
        z0 = self.reparametrization(mean, logvar)
        log_q0 = -0.5 * (math.log(2 * math.pi) + logvar + (z0 - mean) ** 2 / torch.exp(logvar)).sum(-1)
        z_k, log_q_k = flow_chain(z0, log_q0, u, w, b)
        return z_k, log_q_k, mean, logvar

    def get_loss(self, x, eta, z_K, log_q_K):
        recon = (spec.LOG_PI + eta + x ** 2 * torch.exp(-eta)).sum(-1).mean()
        log_prior = -0.5 * (z_K ** 2 + math.log(2 * math.pi)).sum(-1)
        kl = (log_q_K - log_prior).mean()
        return recon + kl, recon, kl


class FlowVAEAnotherWay(FlowVAEBase):
    """torch.distributions for the densities, the flows as modules, the loss through free_energy."""

    def inference(self, x):
        h = self.mlp_x_z(x)
        mean, logvar = self.inf_mean(h), self.inf_logvar(h)
        z0 = self.reparametrization(mean, logvar)
        log_q0 = torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(z0).sum(-1)
        z_k, log_q_k = flow_chain_modules(z0, log_q0, *self.flow_parameters(h))
        return z_k, log_q_k, mean, logvar

    def get_loss(self, x, eta, z_K, log_q_K):
        recon_per_frame = (spec.LOG_PI + eta + x.pow(2) / eta.exp()).sum(-1)
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z_K).sum(-1)
        recon = recon_per_frame.mean()
        loss = free_energy(log_q_K, -recon_per_frame + log_prior)
        return loss, recon, loss - recon


FUNCTIONS = {
    "planar_flow": (planar_flow, planar_flow_another_way),
    "constrain_u": (constrain_u, constrain_u_another_way),
    "flow_chain": (flow_chain, flow_chain_modules),
    "free_energy": (free_energy, free_energy_another_way),
    "inference": (FlowVAE, FlowVAEAnotherWay),
    "get_loss": (FlowVAE, FlowVAEAnotherWay),
}

CHECKS = {
    "planar_flow": flow_checks.check_planar_flow,
    "constrain_u": flow_checks.check_constrain_u,
    "flow_chain": chain_checks.check_flow_chain,
    "free_energy": chain_checks.check_free_energy,
    "inference": model_checks.check_flow_inference,
    "get_loss": model_checks.check_flow_loss,
}

CORRECT = [(name, variant) for name, variants in FUNCTIONS.items() for variant in variants]


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.mark.parametrize("name, correct", CORRECT, ids=[f"{n}-{c.__name__}" for n, c in CORRECT])
def test_a_correct_answer_passes(name, correct, capsys):
    CHECKS[name](correct)
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {name}() passed"), out
    assert out.count("\n") == (2 if name == "constrain_u" else 1), out


def test_the_flow_checks_accept_an_instance_and_leave_it_alone():
    model = FlowVAE(n_flows=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model_checks.check_flow_inference(model)
    model_checks.check_flow_loss(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert "reparametrization" not in vars(model)


def _stub(*args, **kwargs):
    raise NotImplementedError


class StubVAE(FlowVAEBase):
    def inference(self, x):
        raise NotImplementedError

    def get_loss(self, x, eta, z_K, log_q_K):
        raise NotImplementedError


@pytest.mark.parametrize("name", CHECKS)
def test_a_stub_is_not_implemented_yet(name):
    stub = StubVAE if name in ("inference", "get_loss") else _stub
    with pytest.raises(SelfCheckFailed, match="not implemented yet") as failure:
        CHECKS[name](stub)
    assert failure.value.method == name


@pytest.mark.parametrize("name", CHECKS)
def test_checks_leave_the_global_random_state_alone(name, capsys):
    correct = FUNCTIONS[name][0]

    if isinstance(correct, type):
        noisy = type("Noisy", (correct,), {"get_loss": lambda self, *a: (torch.rand(3), correct.get_loss(self, *a))[1]})
    else:
        def noisy(*args):  # a student function that draws from the global generator
            torch.rand(3)
            return correct(*args)

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    CHECKS[name](noisy)
    assert torch.equal(torch.rand(3), expected)


def test_a_student_error_becomes_a_message():
    def broken(z, u, w, b):
        raise KeyError("oops")

    with pytest.raises(SelfCheckFailed, match="raised KeyError"):
        flow_checks.check_planar_flow(broken)


# --- typical mistakes ------------------------------------------------------------------------

def _planar(z, u, w, b, dh=lambda a, h: 1 - h ** 2, absolute=True, log=True, with_w=True, with_b=True,
            along=None):
    a = (w * z).sum(-1) + (b if with_b else 0)
    h = torch.tanh(a)
    f_z = z + (w if along == "w" else u) * h.unsqueeze(-1)
    psi = dh(a, h).unsqueeze(-1) * (w if with_w else torch.ones_like(w))
    det = 1 + (psi * u).sum(-1)
    det = torch.abs(det) if absolute else det
    return f_z, torch.log(det) if log else det


def planar_dh_one_minus_h(z, u, w, b):
    return _planar(z, u, w, b, dh=lambda a, h: 1 - h)


def planar_dh_sigmoid(z, u, w, b):
    return _planar(z, u, w, b, dh=lambda a, h: torch.sigmoid(a) * (1 - torch.sigmoid(a)))


def planar_dh_tanh(z, u, w, b):
    return _planar(z, u, w, b, dh=lambda a, h: h)


def planar_without_abs(z, u, w, b):
    return _planar(z, u, w, b, absolute=False)


def planar_without_log(z, u, w, b):
    return _planar(z, u, w, b, log=False)


def planar_summed_over_batch(z, u, w, b):
    f_z, log_det = planar_flow(z, u, w, b)
    return f_z, log_det.sum()


def planar_psi_without_w(z, u, w, b):
    return _planar(z, u, w, b, with_w=False)


def planar_without_b(z, u, w, b):
    return _planar(z, u, w, b, with_b=False)


def planar_along_w(z, u, w, b):
    return _planar(z, u, w, b, along="w")


def planar_matmul(z, u, w, b):
    a = z @ w + b  # fine for one shared w (D,), not for a w per frame (..., D)
    h = torch.tanh(a)
    return z + u * h.unsqueeze(-1), torch.log(torch.abs(1 + (1 - h ** 2) * (u * w).sum(-1)))


def planar_in_place(z, u, w, b):
    a = (w * z).sum(-1) + b
    h = torch.tanh(a)
    z += u * h.unsqueeze(-1)
    return z, torch.log(torch.abs(1 + (1 - h ** 2) * (u * w).sum(-1)))


def constrain_softplus_only(u, w):
    a = (w * u).sum(-1, keepdim=True)
    return u + (F.softplus(a) - a) * w / (w * w).sum(-1, keepdim=True)


def constrain_by_norm(u, w):
    a = (w * u).sum(-1, keepdim=True)
    return u + (-1 + F.softplus(a) - a) * w / w.norm(dim=-1, keepdim=True)


def constrain_returns_u(u, w):
    return u


def constrain_without_keepdim(u, w):
    a = (w * u).sum(-1)
    return u + (-1 + F.softplus(a) - a) * w / (w * w).sum()


def _chain(z0, log_q0, u, w, b, sign=-1, constrain=True, order=None, only_last=False, carry=True,
           flow=lambda t, k: t[..., k, :], bias=lambda t, k: t[..., k]):
    z, log_q = z0, log_q0
    for k in order(u.shape[-2]) if order else range(u.shape[-2]):
        u_k, w_k = flow(u, k), flow(w, k)
        z_k, log_det = planar_flow(z if carry else z0, constrain_u(u_k, w_k) if constrain else u_k, w_k, bias(b, k))
        z = z_k
        log_q = (log_q0 if only_last else log_q) + sign * log_det
    return z, log_q


def chain_sign_flipped(z0, log_q0, u, w, b):
    return _chain(z0, log_q0, u, w, b, sign=+1)


def chain_unconstrained(z0, log_q0, u, w, b):
    return _chain(z0, log_q0, u, w, b, constrain=False)


def chain_reversed(z0, log_q0, u, w, b):
    return _chain(z0, log_q0, u, w, b, order=lambda k: reversed(range(k)))


def chain_only_last_log_det(z0, log_q0, u, w, b):
    return _chain(z0, log_q0, u, w, b, only_last=True)


def chain_z_not_carried(z0, log_q0, u, w, b):
    return _chain(z0, log_q0, u, w, b, carry=False)


def chain_first_dim_index(z0, log_q0, u, w, b):
    return _chain(z0, log_q0, u, w, b, flow=lambda t, k: t[k], bias=lambda t, k: t[k])


def free_energy_sign(log_q, log_p):
    return (log_p - log_q).mean()


def free_energy_sum(log_q, log_p):
    return (log_q - log_p).sum()


def free_energy_mean_exp(log_q, log_p):
    return torch.exp(log_q - log_p).mean()


def free_energy_last_dim(log_q, log_p):
    return (log_q - log_p).mean(-1)


def _inference(model, x, log_q0=None, feed=None, sample=None, out=None):
    h = model.mlp_x_z(x)
    mean, logvar = model.inf_mean(h), model.inf_logvar(h)
    u, w, b = model.flow_parameters(h)
    z0 = sample(mean, logvar) if sample else model.reparametrization(mean, logvar)
    lq0 = (log_q0 or (lambda z0, mean, logvar: -0.5 * (LOG_2PI + logvar + (z0 - mean) ** 2 / logvar.exp()).sum(-1)))(
        z0, mean, logvar)
    z_k, log_q_k = flow_chain(mean if feed == "mean" else z0, lq0, u, w, b)
    result = (z_k, log_q_k, mean, logvar)
    return out(result, z0, lq0) if out else result


def _vae(**inference):
    return type("Mistake", (FlowVAE,), {"inference": lambda self, x: _inference(self, x, **inference)})


InferenceWithoutLogvar = _vae(log_q0=lambda z0, mean, logvar: -0.5 * (LOG_2PI + (z0 - mean) ** 2 / logvar.exp())
                              .sum(-1))
InferenceWithout2Pi = _vae(log_q0=lambda z0, mean, logvar: -0.5 * (logvar + (z0 - mean) ** 2 / logvar.exp()).sum(-1))
InferenceStandardNormal = _vae(log_q0=lambda z0, mean, logvar: -0.5 * (LOG_2PI + z0 ** 2).sum(-1))
InferenceFedMean = _vae(feed="mean")
InferenceSummedOverFrames = _vae(out=lambda r, z0, lq0: (r[0], r[1].sum(), r[2], r[3]))
InferenceReturnsZ0 = _vae(out=lambda r, z0, lq0: (z0, r[1], r[2], r[3]))
InferenceReturnsLogQ0 = _vae(out=lambda r, z0, lq0: (r[0], lq0, r[2], r[3]))
InferenceOwnNoise = _vae(sample=lambda mean, logvar: mean + torch.exp(logvar / 2) * torch.randn_like(mean))
InferenceSwapped = _vae(out=lambda r, z0, lq0: (r[0], r[1], r[3], r[2]))


def _get_loss(self, x, eta, z_K, log_q_K, prior=True, two_pi=True, sign=1.0, reduce="mean"):
    recon = (spec.LOG_PI + eta + x ** 2 * torch.exp(-eta)).sum(-1)
    log_prior = -0.5 * (z_K ** 2 + (LOG_2PI if two_pi else 0.0)).sum(-1)
    kl = sign * (log_q_K - (log_prior if prior else 0.0))
    recon, kl = (recon.sum(), kl.sum()) if reduce == "sum" else (recon.mean(), kl.mean())
    return recon + kl, recon, kl


def _loss_vae(**options):
    return type("Mistake", (FlowVAE,), {"get_loss": lambda self, *args: _get_loss(self, *args, **options)})


def _analytic_kl(self, x, eta, z_K, log_q_K):
    _, _, mean, logvar = self.inference(x)  # lab 1's closed form, blind to the flows
    recon = (spec.LOG_PI + eta + x ** 2 * torch.exp(-eta)).sum(-1).mean()
    kl = -0.5 * (1 + logvar - mean ** 2 - logvar.exp()).sum(-1).mean()
    return recon + kl, recon, kl


LossWithoutPrior = _loss_vae(prior=False)
LossWithout2Pi = _loss_vae(two_pi=False)
LossSignFlipped = _loss_vae(sign=-1.0)
LossSummedOverFrames = _loss_vae(reduce="sum")
LossAnalyticKl = type("Mistake", (FlowVAE,), {"get_loss": _analytic_kl})


MISTAKES = [
    ("planar_flow", planar_dh_one_minus_h, "h'(a) = 1 - tanh(a). Is h' the derivative of tanh, 1 - tanh(a)^2?"),
    ("planar_flow", planar_dh_sigmoid, "sigmoid's derivative"),
    ("planar_flow", planar_dh_tanh, "h'(a) = tanh(a), h itself"),
    ("planar_flow", planar_without_abs, "ABSOLUTE value"),
    ("planar_flow", planar_without_log, "take its log"),
    ("planar_flow", planar_summed_over_batch, "summed (or averaged) over the samples"),
    ("planar_flow", planar_psi_without_w, "leave out w"),
    ("planar_flow", planar_without_b, "b is ignored"),
    ("planar_flow", planar_along_w, "moved z along w"),
    ("planar_flow", planar_matmul, "(w * z).sum(-1), not z @ w"),
    ("planar_flow", planar_in_place, "changed in place"),
    ("constrain_u", constrain_softplus_only, "the -1 is missing"),
    ("constrain_u", constrain_by_norm, "divide by |w|^2"),
    ("constrain_u", constrain_returns_u, "returns u unchanged"),
    ("constrain_u", constrain_without_keepdim, "keepdim"),
    ("flow_chain", chain_sign_flipped, "the log-det is added"),
    ("flow_chain", chain_unconstrained, "u was used as it is"),
    ("flow_chain", chain_reversed, "reverse order"),
    ("flow_chain", chain_only_last_log_det, "only the last flow's log-det is kept"),
    ("flow_chain", chain_z_not_carried, "each flow was fed z0"),
    ("flow_chain", chain_first_dim_index, "u[..., k, :]"),
    ("free_energy", free_energy_sign, "the sign is flipped"),
    ("free_energy", free_energy_sum, "the sum over the 4 samples"),
    ("free_energy", free_energy_mean_exp, "mean of exp(log_q - log_p)"),
    ("free_energy", free_energy_last_dim, "average over ALL samples"),
    ("inference", InferenceWithoutLogvar, "missing the logvar term"),
    ("inference", InferenceWithout2Pi, "missing the constant ln(2 pi)"),
    ("inference", InferenceStandardNormal, "density of N(0, I) at z0"),
    ("inference", InferenceFedMean, "fed mean instead of z0"),
    ("inference", InferenceSummedOverFrames, "one value per frame"),
    ("inference", InferenceReturnsZ0, "z0 instead of z_K was returned"),
    ("inference", InferenceReturnsLogQ0, "log-dets are not subtracted"),
    ("inference", InferenceOwnNoise, "self.reparametrization"),
    ("inference", InferenceSwapped, "mean and logvar are swapped"),
    ("get_loss", LossWithoutPrior, "the prior term is missing"),
    ("get_loss", LossWithout2Pi, "ln(2 pi) is missing"),
    ("get_loss", LossSignFlipped, "sign is flipped"),
    ("get_loss", LossSummedOverFrames, "average over frames"),
    ("get_loss", LossAnalyticKl, "analytic KL"),
]


def _id(mistake):
    name, fn, _ = mistake
    return f"{name}-{fn.__name__ if not isinstance(fn, type) else next(n for n, v in globals().items() if v is fn)}"


@pytest.mark.parametrize("name, fn, hint", MISTAKES, ids=[_id(m) for m in MISTAKES])
def test_each_typical_mistake_fails_with_a_teaching_message(name, fn, hint):
    with pytest.raises(SelfCheckFailed) as failure:
        CHECKS[name](fn)
    assert failure.value.method == name
    assert hint in failure.value.message, failure.value.message


# --- the checks' own constructions -------------------------------------------------------------

def test_the_hand_computed_planar_cases_match_the_oracle():
    z = flow_checks._planar_points().double()
    w, b = torch.tensor(flow_checks._PLANAR_W, dtype=torch.float64), flow_checks._PLANAR_B
    assert torch.allclose((w * z).sum(-1) + b, torch.tensor(flow_checks._PLANAR_A, dtype=torch.float64))
    assert torch.allclose(torch.tanh((w * z).sum(-1) + b), torch.tensor(flow_checks._PLANAR_H, dtype=torch.float64))
    for u, want in ((flow_checks._PLANAR_U, flow_checks._PLANAR_LOG_DET),
                    (flow_checks._PLANAR_U_B, flow_checks._PLANAR_LOG_DET_B)):
        _, log_det = planar_flow(z, torch.tensor(u, dtype=torch.float64), w, b)
        assert torch.allclose(log_det, torch.tensor(want, dtype=torch.float64))
    a = torch.tensor(flow_checks._PLANAR_A, dtype=torch.float64)
    sig = torch.sigmoid(a)
    assert torch.allclose(sig * (1 - sig), torch.tensor(flow_checks._DH_SIGMOID, dtype=torch.float64), atol=1e-6)


def test_the_hand_computed_constraint_and_fold_match_the_oracle():
    u = torch.tensor(flow_checks._CONSTRAIN_U, dtype=torch.float64)
    w = torch.tensor(flow_checks._CONSTRAIN_W, dtype=torch.float64).expand_as(u)
    assert torch.allclose((w * u).sum(-1), torch.tensor(flow_checks._CONSTRAIN_A, dtype=torch.float64))
    assert torch.allclose((w * constrain_u(u, w)).sum(-1), torch.tensor(flow_checks._CONSTRAIN_M, dtype=torch.float64))
    root = flow_checks.FOLD_ROOT
    assert math.isclose(root, 2 * math.tanh(root), rel_tol=1e-12)
    points = torch.tensor([[-root, 0.0], [0.0, 0.0], [root, 0.0]], dtype=torch.float64)
    fold_u, fold_w = torch.tensor([-2.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    images, _ = planar_flow(points, fold_u, fold_w, 0.0)
    assert images.abs().max() < 1e-12  # three points, one image
    images_hat, _ = planar_flow(points, constrain_u(fold_u, fold_w), fold_w, 0.0)
    assert torch.allclose(images_hat[:, 0], torch.tensor([-1.079038, 0.0, 1.079038], dtype=torch.float64), atol=1e-6)


def test_the_hand_computed_free_energy_and_densities_match_the_oracle():
    log_q = torch.tensor(chain_checks._FE_LOG_Q, dtype=torch.float64)
    log_p = torch.tensor(chain_checks._FE_LOG_P, dtype=torch.float64)
    assert free_energy(log_q, log_p).item() == pytest.approx(chain_checks._FE_WANT)
    assert free_energy_mean_exp(log_q, log_p).item() == pytest.approx(6.436308, rel=1e-6)
    normal = torch.distributions.Normal(torch.tensor(0.5, dtype=torch.float64), 2.0)
    assert normal.log_prob(torch.tensor(2.5, dtype=torch.float64)).item() == pytest.approx(model_checks._LOG_Q0_PER_DIM)
    prior = torch.distributions.Normal(0.0, 1.0)
    assert prior.log_prob(torch.tensor(1.0)).item() == pytest.approx(model_checks._LOG_PRIOR_AT_ONE, rel=1e-6)


def test_the_folding_example_shows_three_points_on_one(capsys):
    fold = flow_checks.folding_example(planar_flow, constrain_u)
    assert fold.images.abs().max() < 1e-5
    assert torch.allclose(fold.images_hat[:, 0], torch.tensor([-1.079038, 0.0, 1.079038]), atol=1e-5)
    assert (fold.unfolded.diff() > 0).all()  # one-to-one with u_hat
    assert (fold.folded.diff() < 0).any() and (fold.folded.diff() > 0).any()  # down then up: folded
    assert torch.isfinite(fold.log_det_hat).all()
    print(fold)
    text = capsys.readouterr().out
    assert "three points, one image" in text and "w^T u_hat = -0.873 > -1" in text


def test_a_failure_renders_without_a_traceback():
    with pytest.raises(SelfCheckFailed) as failure:
        chain_checks.check_free_energy(free_energy_sign)
    lines = failure.value._render_traceback_()
    assert lines[0].endswith("check of free_energy() failed\x1b[0m")
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize("module", [flow_checks, model_checks], ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def test_the_module_holds_no_reference_implementation(module):
    """Public files: no tanh-based transform, softplus of w^T u or Gaussian log-density of the answers."""
    import inspect

    source = inspect.getsource(module)
    for banned in ("torch.tanh(", "math.tanh(", "F.softplus(", "log1p(", "log_prob(", "randn_like("):
        assert banned not in source, banned


def test_the_loss_check_names_a_missing_inference_not_get_loss():
    class OnlyLoss(FlowVAE):
        def inference(self, x):
            raise NotImplementedError

    with pytest.raises(SelfCheckFailed, match=r"model.loss\(x\) stops at a method that is not implemented yet"):
        model_checks.check_flow_loss(OnlyLoss)
