"""What the flows lab's checks share: a student's transform's Jacobian by autograd, its log|det|,
and comparisons of what came back with values worked out by hand (flow_checks, chain_checks,
model_checks)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vaelab_core.checking import call, fail


def two_outputs(m: str, out, names: tuple[str, str]) -> tuple:
    """`out` as a pair named `names` (what the function should return), or fail saying what came."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        got = f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
        fail(m, f"should return a tuple ({names[0]}, {names[1]}), got {got}.")
    return tuple(out)


def near(got: torch.Tensor, values, atol: float = 1e-4) -> bool:
    """`got` equals the hand-computed `values` (numbers or a tensor) up to `atol`."""
    want = torch.as_tensor(values, dtype=torch.float64)
    return got.shape == want.shape and bool(torch.allclose(got.double(), want, atol=atol, rtol=1e-4))


def first_match(got: torch.Tensor, ladder: list[tuple[object, str]], atol: float = 1e-4) -> str | None:
    """The cause of the first rung whose (hand-computed) values `got` matches, or None."""
    return next((cause for values, cause in ladder if near(got, values, atol)), None)


def diagonal_blocks(jac: torch.Tensor) -> torch.Tensor:
    """(N, D, N, D) Jacobian of N independent samples -> (N, D, D), each sample's own block."""
    n = jac.shape[0]
    return torch.stack([jac[i, :, i, :] for i in range(n)])


def jacobian_blocks(m: str, transform: Callable, z: torch.Tensor) -> torch.Tensor:
    """Each sample's (D, D) Jacobian of `transform` at z: (N, D) -> (N, D, D), by autograd;
    fails when one sample's output depends on another's input."""
    jac = call(m, torch.autograd.functional.jacobian, transform, z).detach()
    blocks = diagonal_blocks(jac)
    if len(z) < 2:
        return blocks
    eye = torch.eye(len(z), dtype=torch.bool)[:, None, :, None].expand_as(jac)
    if jac[~eye].abs().max() > 1e-6:
        fail(m, "the output for one sample depends on the input of another sample: every operation "
                "should act on the last dimension (D) only, e.g. (w * z).sum(-1), never a sum or a mean "
                "over the samples.")
    return blocks


def log_abs_det(blocks: torch.Tensor) -> torch.Tensor:
    """(N, D, D) -> (N,) ln|det|, computed in float64."""
    return torch.linalg.slogdet(blocks.double()).logabsdet
