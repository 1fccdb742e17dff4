"""What every lab's public checks share: the error, the printing, calling student code, and the
diagnosis of a wrong loss term or a wrong sample variance.

A check (in `vaelab_core.labs.<lab>`) calls the student's code on small inputs and either prints
one line "✓ <name>() passed: ..." (`passed`) or stops the notebook with `SelfCheckFailed`, whose
message says what was expected, what came back and the likely cause (STYLE.md, 6).

The diagnosis functions at the end (`recon_mistake`, `kl_mistake`, `variance_mistake`) are the one
ladder of typical mistakes in the negative ELBO and in the reparametrization trick: they compare a
computed value with the expected one for known inputs and name the mistake that explains the
difference, or return None. The public self-checks of both labs and the hidden tests use them, so
a student reads the same diagnosis in the notebook and in the grader's feedback. They take values
worked out elsewhere (by hand, or by the reference in the grader): this module, installed on
students' machines, computes no loss.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import NoReturn

import torch

from vaelab_core import spec


class SelfCheckFailed(AssertionError):
    """A self-check that did not pass. Jupyter shows only the message, not a traceback."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.message = message

    def _render_traceback_(self) -> list[str]:  # IPython's hook for a custom error display
        return [f"\x1b[31m✗ check of {self.method}() failed\x1b[0m", *self.message.splitlines()]


def fail(method: str, message: str) -> NoReturn:
    """Stop the notebook: `method` (a student function, or a part of the results) did not pass."""
    raise SelfCheckFailed(method, message)


def passed(method: str, what: str) -> None:
    print(f"✓ {method}() passed: {what}")


def call(method: str, fn: Callable, *args, hint: str = ""):
    """fn(*args), a student's code: 'not implemented yet' for a stub, any other error as a message
    with its type (and `hint`, the likely cause, when given) instead of a traceback."""
    try:
        return fn(*args)
    except NotImplementedError:
        fail(method, f"not implemented yet. Fill in {method}() in its cell, run that cell again, then "
                     "this check.")
    except SelfCheckFailed:
        raise
    except Exception as err:  # a student error: show it as a message, with its type
        fail(method, f"raised {type(err).__name__}: {err}" + (f". {hint}" if hint else ""))


def own_random_state(check: Callable) -> Callable:
    """Run a check with its own seeds, leaving the notebook's random state as it was."""
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)
    return wrapper


# --- tensors ----------------------------------------------------------------------------------

def checked_tensor(method: str, what: str, value, shape: tuple[int, ...], hint: str = "") -> torch.Tensor:
    """`value` detached, after checking that it is a finite float32 tensor of shape `shape`;
    `hint` (the likely cause) is added to a wrong shape or a NaN."""
    if not isinstance(value, torch.Tensor):
        fail(method, f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    if tuple(value.shape) != shape:
        fail(method, f"{what} should have shape {shape}, got {tuple(value.shape)}. {hint}".strip())
    if value.dtype != torch.float32:
        fail(method, f"{what} should be float32 like the inputs, got {value.dtype} "
                     "(convert back with .float() if you computed in another precision).")
    if not torch.isfinite(value).all():
        fail(method, f"{what} contains NaN or infinity. {hint}".strip())
    return value.detach()


def close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    """Same shape and the same values up to the tolerances, compared in float64."""
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol)


def show(t: torch.Tensor, digits: int = 3) -> str:
    """A tensor as nested lists of rounded numbers, for a message."""
    return str(t.detach().double().numpy().round(digits).tolist())


def backward(method: str, value: torch.Tensor, what: str) -> None:
    """Backpropagate from `value` (0-d), or explain why no gradient can flow through `what`."""
    if not value.requires_grad:
        fail(method, f"no gradient reaches the inputs through {what}: it was cut from the graph "
                     "(.detach(), .data, torch.no_grad(), numpy or .item() on the way?).")
    call(method, value.backward)


def without_gradient(leaves: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first of `leaves` (after `backward`) that received no gradient, or None."""
    for name, leaf in leaves.items():
        if leaf.grad is None or leaf.grad.abs().sum() == 0:
            return name
    return None


def loss_reaches(method: str, loss: torch.Tensor, leaves: Mapping[str, torch.Tensor]) -> None:
    """Backpropagate from `loss` (0-d); each of `leaves` (inputs with requires_grad) must get a gradient."""
    backward(method, loss, "the loss")
    missing = without_gradient(leaves)
    if missing:
        fail(method, f"the loss does not depend on {missing} through a differentiable path: use torch "
                     "operations on the tensors (no .item(), numpy or math functions).")


def loss_terms(method: str, out) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`out`, what a loss returned, checked to be (loss, recon, kl): three 0-d tensors."""
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(method, f"should return a tuple (loss, recon, kl), got {type(out).__name__}.")
    for name, value in zip(("loss", "recon", "kl"), out):
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(method, f"{name} should be a scalar tensor (averaged over frames), got {shape}.")
    return tuple(out)


# --- diagnosis: which mistake explains a wrong value -------------------------------------------

def _near(got: float, value: float) -> bool:
    return math.isfinite(got) and math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-4)


def _first(got: float, ladder: list[tuple[float | None, str]]) -> str | None:
    """The cause of the first rung whose value `got` matches (a rung of value None is skipped)."""
    return next((cause for value, cause in ladder if value is not None and _near(got, value)), None)


def recon_mistake(got: float, want: float, *, frames: int, bins: int,
                  if_eta_is_variance: float | None = None, if_x_not_squared: float | None = None) -> str | None:
    """The likely mistake behind a reconstruction term `got` where `want` was expected, or None.

    got, want: the term (the negative log-likelihood of the handout, eq. (2), summed over `bins`
    frequency bins and averaged over `frames` frames) for the same known inputs. The typical
    mistakes change it in ways that depend only on `want`, `frames` and `bins`; two more depend
    on the inputs, so the caller gives their values when it knows them: `if_eta_is_variance`
    (eta read as the variance instead of the log-variance) and `if_x_not_squared` (|x| for |x|^2).
    """
    return _first(got, [
        (want * frames, f"it is {frames} times too large for {frames} frames, their sum: average over "
                        "frames (batch and time), sum over the frequency bins only."),
        (want / bins, f"it is {bins} times too small, an average over the {bins} bins: sum over the "
                      "frequency bins (the last dimension), average over frames."),
        (want - bins * spec.LOG_PI, "the constant log(pi) of each bin is missing (eq. (2): 1 / pi^F)."),
        (want + bins * spec.LOG_PI, "the constant log(pi) of each bin is counted twice (eq. (2): 1 / pi^F)."),
        (if_eta_is_variance, "eta was used as the variance; it is the log-variance, the variance is exp(eta)."),
        (if_x_not_squared, "x was used instead of x^2: the density has |x|^2 / variance."),
    ])


def kl_mistake(got: float, want: float, *, frames: int, dims: int) -> str | None:
    """The likely mistake behind a KL term `got` where `want` (> 0) was expected, or None.

    got, want: the KL divergence of q(z|x) from the prior N(0, I), summed over `dims` latent
    dimensions and averaged over `frames` frames, for the same known inputs.
    """
    return _first(got, [
        (2 * want, "it is twice the expected value: the factor 1/2 is missing."),
        (-want, "it has the wrong sign: a KL divergence is never negative."),
        (want * frames, f"it is {frames} times too large for {frames} frames, their sum: average over "
                        "frames, sum over the latent dimensions."),
        (want / dims, f"it is {dims} times too small, an average over the {dims} latent dimensions: sum "
                      "over them, average over frames."),
    ])


def variance_mistake(sample_var, logvar) -> str | None:
    """The likely mistake of a reparametrization whose samples have variance `sample_var`
    (a number or a tensor, one per dimension) where exp(logvar) was expected, or None."""
    got = torch.as_tensor(sample_var, dtype=torch.float64)
    logvar = torch.as_tensor(logvar, dtype=torch.float64)
    if torch.allclose(got, (2 * logvar).exp(), rtol=0.1):
        return ("the variance came out as exp(2 logvar): exp(logvar) was used as the standard deviation. "
                "The standard deviation is exp(logvar / 2).")
    if torch.allclose(got, logvar.pow(2), rtol=0.1):
        return ("the variance came out as logvar^2: logvar was used as the standard deviation. Is this the "
                "log-variance or the standard deviation? Use exp(logvar / 2).")
    if torch.allclose(got, torch.ones_like(got), rtol=0.1):
        return "the variance is 1 everywhere: the noise is not scaled by the standard deviation."
    if (got < 0.05 * logvar.exp()).all():
        return "the samples hardly vary: is noise added, and multiplied by the standard deviation?"
    return None
