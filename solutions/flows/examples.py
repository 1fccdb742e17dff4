"""Example submissions of flows, each with the scores the grader must give it.

Instructor-only (they hold the solution): made from the student notebook of the release by
writing the solution cells into it, and graded by `vaelab demo`, the end-to-end tests and the
grading benchmark. The correct cells are read from the solution notebook beside this file;
each mistake is an edit of one of them, the kind a student makes. The hidden tests probe each
function alone, so a mistake costs its own part, and the results that its run changes.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader.kit.cell_examples import Example, SolutionCells

#: The six tests of the code and the two of the results, with their points in the notebook.
POINTS = {"test_planar_flow": 3, "test_constrain_u": 2, "test_flow_chain": 3, "test_free_energy": 1,
          "test_flow_inference": 3, "test_flow_loss": 2, "test_densities": 3, "test_flow_vae": 3}
#: The solution cells a student writes: four functions and the FlowVAE class.
CELLS = ("planar_flow", "constrain_u", "flow_chain", "free_energy", "flow_model")


LAB = SolutionCells(Path(__file__).with_name("flows.ipynb"), CELLS, POINTS)
#: grade id -> the solution's source of each cell a student writes, markers dropped
SOLUTION = LAB.solution

#: The same code written another way: the determinant lemma's dot product taken first, einsum,
#: each flow an nn.Module and the log-determinants summed at the end, torch.distributions.
VARIANTS = {
    "planar_flow": '''def planar_flow(z, u, w, b):
    h = torch.tanh(torch.einsum("...d,...d->...", z, w.expand_as(z)) + b)
    w_dot_u = (w * u).sum(-1)  # psi^T u = h'(a) w^T u: one dot product per flow
    return z + h[..., None] * u, torch.log(torch.abs(1 + w_dot_u * (1 - h * h)))
''',
    "constrain_u": '''def constrain_u(u, w):
    inner = torch.einsum("...d,...d->...", u, w)[..., None]
    wanted = torch.log1p(torch.exp(inner)) - 1
    return u + (wanted - inner) * w / w.norm(dim=-1, keepdim=True) ** 2
''',
    "flow_chain": '''class PlanarStep(nn.Module):
    """One planar flow with given parameters, u constrained once for all K."""

    def __init__(self, u_hat, w, b):
        super().__init__()
        self.u_hat, self.w, self.b = u_hat, w, b

    def forward(self, z):
        return planar_flow(z, self.u_hat, self.w, self.b)


def flow_chain(z0, log_q0, u, w, b):
    u_hat = constrain_u(u, w)  # all K at once: (..., K, D)
    steps = [PlanarStep(u_hat[..., k, :], w[..., k, :], b[..., k]) for k in range(u.shape[-2])]
    z, log_dets = z0, []
    for step in steps:
        z, log_det = step(z)
        log_dets.append(log_det)
    total = torch.stack(log_dets).sum(0) if log_dets else torch.zeros_like(log_q0)
    return z, log_q0 - total
''',
    "flow_model": '''class FlowVAE(FlowVAEBase):
    def inference(self, x):
        hidden = self.mlp_x_z(x)
        mean, logvar = self.inf_mean(hidden), self.inf_logvar(hidden)
        z0 = self.reparametrization(mean, logvar)
        q0 = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
        return (*flow_chain(z0, q0.log_prob(z0).sum(-1), *self.flow_parameters(hidden)), mean, logvar)

    def get_loss(self, x, eta, z_k, log_q_k):
        log_likelihood = -(spec.LOG_PI + eta + x.pow(2) * torch.exp(-eta)).sum(-1)
        prior = torch.distributions.Normal(torch.zeros_like(z_k), torch.ones_like(z_k))
        log_prior = prior.log_prob(z_k).sum(-1)
        loss = free_energy(log_q_k, log_likelihood + log_prior)
        return loss, -log_likelihood.mean(), (log_q_k - log_prior).mean()
''',
}


_full = LAB.full  # the expected scores: full points except where given
_edit = LAB.edit  # {cell: the solution's source with one edit}


EXAMPLES = {
    "correct": Example("the reference solution", {}, _full()),
    "variants": Example("correct, written another way (the lemma's dot product first, einsum, one nn.Module "
                        "per flow, torch.distributions)", VARIANTS, _full()),
    # A mistake in a flow function costs its own test, and two of part 1's three points, whose fits it
    # breaks (they run, but end in a NaN or below the floor -ln Z, by a chance of rounding: either
    # fails the same check); part 2's flow models are judged only for a broken training (their
    # spread over seeds is as large as what a small mistake changes): see grading.judge_flow_vae.
    "sign": Example("flow_chain adds the log-determinants instead of subtracting them",
                    _edit("flow_chain", "log_q = log_q - log_det", "log_q = log_q + log_det"),
                    _full(test_flow_chain=1, test_densities=1)),
    "derivative": Example("planar_flow: h'(a) taken as 1 - tanh(a) rather than 1 - tanh(a)^2",
                          _edit("planar_flow", "psi = (1 - h ** 2).unsqueeze(-1) * w", "psi = (1 - h).unsqueeze(-1) * w"),
                          _full(test_planar_flow=1, test_densities=1)),
    # its fits land within 0.3 nat of the reference's: only its own test tells
    "unconstrained": Example("flow_chain uses u as it is, not constrain_u(u, w): the flows may fold",
                             _edit("flow_chain", "u_hat = constrain_u(u, w)", "u_hat = u"),
                             _full(test_flow_chain=1)),
    "summed": Example("planar_flow sums the log-determinant over the batch (one number, not one per sample)",
                         _edit("planar_flow", "log_det = torch.log(torch.abs(1 + (psi * u).sum(-1)))",
                               "log_det = torch.log(torch.abs(1 + (psi * u).sum(-1))).sum()"),
                         _full(test_planar_flow=1, test_densities=1, test_flow_vae=2)),
    "noprior": Example("get_loss: the free energy without the prior term ln p(z_K)",
                        {"flow_model": _edit("flow_model", "kl = (log_q_k - log_prior).mean()", "kl = log_q_k.mean()")
                         ["flow_model"].replace("free_energy(log_q_k, log_px_z + log_prior)",
                                                "free_energy(log_q_k, log_px_z)")},
                        _full(test_flow_loss=1, test_flow_vae=1)),
    "blank": Example("the release notebook as handed out, nothing filled in", {},
                     {test: 0 for test in POINTS}, answers=False),
}


def make_submission(release: nbformat.NotebookNode, example: Example) -> nbformat.NotebookNode:
    """The student notebook of the release with the example's cells filled in."""
    return LAB.fill(release, example)

#: What `vaelab demo` grades by default when it grades this lab: a correct submission, the log-
#: determinant's sign flipped, and a flow that may fold the plane.
DEMO_EXAMPLES = ("correct", "sign", "unconstrained")
