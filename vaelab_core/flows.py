"""What the normalizing-flows lab provides around the students' functions: the paper's 2-D target
energies, their normalising constants, fitting a chain of planar flows to a target, and the
figures of part 1; for part 2, the KL per unit of a flow VAE's base posterior and a timed
training run.

Rezende and Mohamed, "Variational inference with normalizing flows" (ICML 2015): section 6.1,
table 1 gives the energies U1 to U4 of unnormalised densities p(z) ~ exp(-U(z)) in two
dimensions, figure 3 the densities fitted by chains of K planar flows from a standard normal.

Nothing here is a student's function: `fit_densities` (and `fit_chains`, a fit per K) calls the
notebook's own `flow_chain` and `free_energy`, so a student sees their code fit the densities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

#: The four targets of the paper's table 1, in its order.
TARGETS = ("U1", "U2", "U3", "U4")
#: Half-width of the square the paper draws the densities in, [-4, 4]^2.
WINDOW = 4.0
#: ln(2 pi): a D-dimensional standard normal has ln N(z; 0, I) = -(|z|^2 + D ln 2 pi) / 2.
LOG_2PI = math.log(2 * math.pi)


def _w1(z: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * math.pi * z[..., 0] / 4)


def _w2(z: torch.Tensor) -> torch.Tensor:
    return 3 * torch.exp(-0.5 * ((z[..., 0] - 1) / 0.6) ** 2)


def _w3(z: torch.Tensor) -> torch.Tensor:
    return 3 * torch.sigmoid((z[..., 0] - 1) / 0.3)


def _wall(z: torch.Tensor) -> torch.Tensor:
    """0 inside |z1| <= 4, rising steeply outside (see `energy`)."""
    return 0.5 * (torch.relu(z[..., 0].abs() - WINDOW) / 0.2) ** 2


def _u1(z: torch.Tensor) -> torch.Tensor:
    ring = 0.5 * ((z.norm(dim=-1) - 2) / 0.4) ** 2
    modes = torch.stack([-0.5 * ((z[..., 0] - 2) / 0.6) ** 2, -0.5 * ((z[..., 0] + 2) / 0.6) ** 2])
    return ring - torch.logsumexp(modes, dim=0)


def _u2(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((z[..., 1] - _w1(z)) / 0.4) ** 2 + _wall(z)


def _u3(z: torch.Tensor) -> torch.Tensor:
    branches = torch.stack([-0.5 * ((z[..., 1] - _w1(z)) / 0.35) ** 2,
                            -0.5 * ((z[..., 1] - _w1(z) + _w2(z)) / 0.35) ** 2])
    return -torch.logsumexp(branches, dim=0) + _wall(z)


def _u4(z: torch.Tensor) -> torch.Tensor:
    branches = torch.stack([-0.5 * ((z[..., 1] - _w1(z)) / 0.4) ** 2,
                            -0.5 * ((z[..., 1] - _w1(z) + _w3(z)) / 0.35) ** 2])
    return -torch.logsumexp(branches, dim=0) + _wall(z)


_ENERGIES = {"U1": _u1, "U2": _u2, "U3": _u3, "U4": _u4}


def energy(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The energy U of target `name` (U1 to U4): z (..., 2) -> U(z) (...,).

    U2 to U4, as table 1 prints them, do not depend on z1 far from the origin: exp(-U) has
    infinite mass along z1, no normalised density matches it, and a free energy against it has
    no lower bound (a flow lowers it by spreading out along z1 for ever). Here they carry a wall
    at |z1| = 4, the edge of the paper's figures: nothing changes inside the window, and the
    target becomes a proper density whose ln Z can be computed (`log_normaliser`)."""
    if name not in _ENERGIES:
        raise ValueError(f"unknown target {name!r}: the targets are {', '.join(TARGETS)}")
    return _ENERGIES[name]


def grid(limit: float = 6.0, points: int = 601) -> tuple[torch.Tensor, float]:
    """A square grid over [-limit, limit]^2: points (points, points, 2) and the area of a cell."""
    axis = torch.linspace(-limit, limit, points, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)
    return z, float(axis[1] - axis[0]) ** 2


def log_normaliser(name: str, limit: float = 6.0, points: int = 601) -> float:
    """ln Z = ln of the integral of exp(-U(z)) over the plane, by the midpoint rule on a grid
    (every target's mass lies well inside [-6, 6]^2). -ln Z is the lowest free energy any
    approximation can reach: F = KL(q || p) - ln Z."""
    z, area = grid(limit, points)
    return float(torch.logsumexp(-energy(name)(z).flatten(), dim=0) + math.log(area))


@dataclass(frozen=True)
class DensityFit:
    """How part 1 fits each chain of flows (the same for every target and every K)."""

    steps: int = 1000          # Adam steps
    samples: int = 512         # samples of q0 per step, for the Monte Carlo free energy
    lr: float = 0.03           # Adam's learning rate, decayed to 0 along a cosine
    anneal: float = 0.3        # share of the steps over which the target's weight rises to 1
    init_scale: float = 0.01   # u and w start as N(0, init_scale^2) draws, b at 0
    seed: int = 0


@dataclass
class FittedFlows:
    """A chain of K planar flows fitted to each target: parameters u, w (T, 1, K, 2), b (T, 1, K),
    one row per target of `targets`, and the free energy after each step (T, steps)."""

    targets: tuple[str, ...]
    u: torch.Tensor
    w: torch.Tensor
    b: torch.Tensor
    history: torch.Tensor
    #: samples already drawn from these chains, by (flow_chain, n, seed): see `samples`
    drawn: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_flows(self) -> int:
        return self.u.shape[-2]


def _standard_normal(n: int, dim: int, generator: torch.Generator, leading: int) -> tuple[torch.Tensor, torch.Tensor]:
    """z0 ~ N(0, I): (leading, n, dim), and ln q0(z0): (leading, n)."""
    z0 = torch.randn(leading, n, dim, generator=generator)
    return z0, -0.5 * (z0.pow(2).sum(-1) + dim * LOG_2PI)


def fit_densities(n_flows: int, flow_chain: Callable, free_energy: Callable,
                  config: DensityFit = DensityFit(), targets: tuple[str, ...] = TARGETS) -> FittedFlows:
    """Fit a chain of `n_flows` planar flows from N(0, I) to each target, all targets at once.

    Each step draws `config.samples` points of q0 per target, pushes them through
    `flow_chain(z0, log_q0, u, w, b)` (the notebook's), and lowers the sum over targets of
    `free_energy(log_q_K, -beta U(z_K))` (the notebook's) with Adam. beta rises from 0.01 to 1
    over the first `anneal` share of the steps, as the paper anneals its bound: a flow first
    spreads out, then gathers on the target's modes rather than collapsing on the nearest one.
    """
    return _fit_together((n_flows,), flow_chain, free_energy, config, targets)[n_flows]


def _fit_together(flow_counts: Sequence[int], flow_chain: Callable, free_energy: Callable,
                  config: DensityFit, targets: tuple[str, ...]) -> dict[int, FittedFlows]:
    """`fit_densities` for each K of `flow_counts`, in one loop: {K: FittedFlows}.

    Each chain keeps its own generator, parameters and free energies, so each fit is the one
    `fit_densities` makes alone, to the bit. What the chains share is the work around them: one
    evaluation of the target energies on all their samples, one backward pass and one Adam step
    a step, where fitting them one after the other paid for these once per chain (see
    `fit_chains` for what that saves)."""
    generators, parameters, histories = {}, {}, {}
    for k in flow_counts:
        generators[k] = torch.Generator().manual_seed(config.seed)
        shape = (len(targets), 1, k)
        u = (config.init_scale * torch.randn(*shape, 2, generator=generators[k])).requires_grad_()
        w = (config.init_scale * torch.randn(*shape, 2, generator=generators[k])).requires_grad_()
        parameters[k] = (u, w, torch.zeros(shape, requires_grad=True))
        histories[k] = torch.empty(len(targets), config.steps)
    optimizer = torch.optim.Adam([p for k in flow_counts for p in parameters[k]], lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    energies = [energy(name) for name in targets]
    n = config.samples
    for step in range(config.steps):
        beta = min(1.0, 0.01 + step / (config.anneal * config.steps))
        pushed = {}
        for k in flow_counts:
            z0, log_q0 = _standard_normal(n, 2, generators[k], len(targets))
            pushed[k] = flow_chain(z0, log_q0, *parameters[k])
            if not isinstance(pushed[k][0], torch.Tensor) or pushed[k][0].shape != z0.shape:
                raise ValueError(f"flow_chain returned z_K of shape {tuple(getattr(pushed[k][0], 'shape', ()))} "
                                 f"for z0 of shape {tuple(z0.shape)}: it must return z_K shaped like z0, "
                                 "and ln q_K(z_K) with one value per sample")
        # U of every chain's samples at once: (targets, chains * samples), chain j in columns j*n:(j+1)*n
        z_all = torch.cat([pushed[k][0] for k in flow_counts], dim=1)
        u_all = torch.stack([U(z_all[i]) for i, U in enumerate(energies)])
        per_target = {k: torch.stack([free_energy(pushed[k][1][i], -beta * u_all[i, j * n:(j + 1) * n])
                                      for i in range(len(targets))])
                      for j, k in enumerate(flow_counts)}
        optimizer.zero_grad(set_to_none=True)
        sum(values.sum() for values in per_target.values()).backward()
        optimizer.step()
        schedule.step()
        for k, values in per_target.items():
            histories[k][:, step] = values.detach()
    return {k: FittedFlows(tuple(targets), *(p.detach() for p in parameters[k]), histories[k]) for k in flow_counts}


def _groups(flow_counts: Sequence[int], workers: int) -> list[list[int]]:
    """`flow_counts` split into `workers` groups of about equal time, the longest first: a step
    costs about as much as 10 flows before the first (sampling, energies, Adam) and 1 a flow."""
    groups: list[list[int]] = [[] for _ in range(workers)]
    cost = [0] * workers
    for k in sorted(flow_counts, reverse=True):
        cheapest = cost.index(min(cost))
        cost[cheapest] += k + (0 if groups[cheapest] else 10)
        groups[cheapest].append(k)
    return [group for group in groups if group]


def fit_chains(flow_counts: Sequence[int], flow_chain: Callable, free_energy: Callable,
               config: DensityFit = DensityFit(), targets: tuple[str, ...] = TARGETS) -> dict[int, FittedFlows]:
    """`fit_densities` for each chain length K of `flow_counts`: {K: FittedFlows}, the fits
    `fit_densities` makes for each K alone, to the bit.

    The fits are independent (each draws from its own generator) and made of operations too
    small for torch to split between threads, so a fit keeps one core busy. With one torch thread
    (a graded kernel) every chain is fitted in one loop (`_fit_together`); with more, the chains
    are split in as many groups of about equal time as torch may use threads
    (`torch.get_num_threads()`), each group fitted in one loop in a thread of its own: on 2
    threads K = 32 alone beside K = 8 and 2 together.

    On the 2-core VM, one thread, two alternated pairs: 18.7 and 18.2 s for the three chains one
    after the other, 15.8 and 15.6 s in one loop. Two threads: 15.8 s side by side against 22.2 s
    one after the other.
    """
    flow_counts = list(dict.fromkeys(flow_counts))  # each K once
    groups = _groups(flow_counts, min(len(flow_counts), torch.get_num_threads()))
    if len(groups) == 1:
        fitted = _fit_together(groups[0], flow_chain, free_energy, config, targets)
    else:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            pending = [pool.submit(_fit_together, group, flow_chain, free_energy, config, targets) for group in groups]
            fitted = {k: chains for future in pending for k, chains in future.result().items()}
    return {k: fitted[k] for k in flow_counts}


@torch.no_grad()
def samples(fitted: FittedFlows, flow_chain: Callable, n: int = 100_000, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples of each fitted q_K: z_K (T, n, 2) and ln q_K(z_K) (T, n).

    The same draw is made once per chain and function: the free energies and the figure read
    the same samples (copies, so that a function that changes its input in place cannot alter
    what the next caller gets). Fitting again makes new chains, and so new samples."""
    key = (flow_chain, n, seed)
    if key not in fitted.drawn:
        generator = torch.Generator().manual_seed(seed)
        z0, log_q0 = _standard_normal(n, 2, generator, len(fitted.targets))
        z_k, log_q = flow_chain(z0, log_q0, fitted.u, fitted.w, fitted.b)
        fitted.drawn[key] = (z_k, log_q)
    return tuple(t.clone() for t in fitted.drawn[key])


@torch.no_grad()
def final_free_energy(fitted: FittedFlows, flow_chain: Callable, free_energy: Callable,
                      n: int = 100_000, seed: int = 1) -> dict[str, float]:
    """{target: F} of each fitted chain against its (unannealed) target, on `n` fresh samples:
    the Monte Carlo error is about 0.01 nat or less."""
    z_k, log_q = samples(fitted, flow_chain, n, seed)
    return {name: float(free_energy(log_q[i], -energy(name)(z_k[i]))) for i, name in enumerate(fitted.targets)}


def plot_densities(fitted: dict[int, FittedFlows], flow_chain: Callable, save: str | Path | None = None):
    """The paper's figure 3: each target's density exp(-U) (first column) beside histograms of
    samples of the chains fitted with each K (one column per K), over [-4, 4]^2. The samples are
    those `final_free_energy` drew (100,000 per target), not drawn again."""
    import matplotlib.pyplot as plt

    from vaelab_core.plots import _finish

    chains = sorted(fitted)
    targets = fitted[chains[0]].targets
    fig, axes = plt.subplots(len(targets), 1 + len(chains), figsize=(2.2 * (1 + len(chains)), 2.2 * len(targets)),
                             squeeze=False)
    z, _ = grid(WINDOW, 201)
    edges = np.linspace(-WINDOW, WINDOW, 101)
    drawn = {k: samples(fitted[k], flow_chain)[0].numpy() for k in chains}
    for row, name in enumerate(targets):
        axes[row, 0].imshow(torch.exp(-energy(name)(z)).numpy(), origin="lower", cmap="magma",
                            extent=(-WINDOW, WINDOW, -WINDOW, WINDOW))
        axes[row, 0].set_ylabel(name)
        for column, k in enumerate(chains, start=1):
            counts, _, _ = np.histogram2d(drawn[k][row, :, 1], drawn[k][row, :, 0], bins=[edges, edges])
            axes[row, column].imshow(counts, origin="lower", cmap="magma", extent=(-WINDOW, WINDOW, -WINDOW, WINDOW))
    axes[0, 0].set_title("exp(-U)")
    for column, k in enumerate(chains, start=1):
        axes[0, column].set_title(f"K = {k}")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _finish(fig, save)


# --- part 2: a flow posterior in the speech VAE ------------------------------------------------

@torch.no_grad()
def base_kl_per_unit(model: torch.nn.Module, spectra: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """KL(q0(z_k | x) || N(0, 1)) of each latent unit k, averaged over the frames of
    `spectra: (N, T, F)`, nats per frame: (Z,). With a flow posterior, q_K is no longer a product
    over units, so its KL does not split by unit; the base Gaussian q0 (the encoder's mean and
    log-variance) still says which units the encoder uses."""
    model.eval()
    total, frames = None, 0
    for start in range(0, len(spectra), batch):
        _, _, mean, logvar = model.inference(spectra[start:start + batch])
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)
        kl = kl.reshape(-1, kl.shape[-1])
        total = kl.sum(0) if total is None else total + kl.sum(0)
        frames += kl.shape[0]
    return total / frames


@torch.no_grad()
def plot_folding(planar_flow: Callable, constrain_u: Callable, save: str | Path | None = None):
    """What `constrain_u` prevents, drawn with the notebook's own functions: 41 points on a line
    along w, pushed through one planar flow with w^T u = -2 (left: the order of the points is
    reversed in the middle, the line folds, two points meet) and with u replaced by
    constrain_u(u, w) (right: the order is kept). The colour is each point's position before."""
    import matplotlib.pyplot as plt

    from vaelab_core.plots import _finish

    w = torch.tensor([1.0, 0.5])
    u = -2.0 * w / w.pow(2).sum() + torch.tensor([-0.4, 0.8])  # w^T u = -2 (the second term is orthogonal to w)
    along = torch.linspace(-2.5, 2.5, 41)
    z = along[:, None] * w / w.norm()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, (title, u_used) in zip(axes, (("u as it is (w^T u = -2)", u), ("constrain_u(u, w)", constrain_u(u, w)))):
        moved, _ = planar_flow(z, u_used, w, torch.tensor(0.0))
        position = (moved @ w / w.norm()).numpy()
        ax.plot(along.numpy(), position, color="0.7", zorder=1)
        ax.scatter(along.numpy(), position, c=along.numpy(), cmap="viridis", s=14, zorder=2)
        backwards = int((torch.diff(torch.as_tensor(position)) < 0).sum())
        ax.set(xlabel="position along w before the flow", ylabel="position along w after",
               title=f"{title}: {backwards} of {len(z) - 1} steps go backwards")
    fig.tight_layout()
    return _finish(fig, save)
