"""Public self-checks of the synth lab's functions: descriptors, their distance, the synthesis
paths, a note's path and the conditional VAE.

Every expected value here is worked out by hand on frames built for it (a tone, two tones, a flat
spectrum), so a message can name the mistake that explains a wrong number: power instead of
magnitude, the wrong sample rate, the wrong layout for LibROSA, a radius used as a diameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from vaelab_core import spec
from vaelab_core.checking import call, checked_tensor, close, fail, own_random_state, passed, show
from vaelab_core.synthesis import CONDITION_DIM, DESCRIPTORS

#: Hz per STFT bin of the lab (16 kHz / 512).
BIN_HZ = spec.SAMPLE_RATE / spec.N_FFT


def _frames() -> np.ndarray:
    """Four hand-made magnitude frames (4, F): a tone at 1000 Hz; tones at 500 Hz (magnitude 1)
    and 2000 Hz (magnitude 2); a flat spectrum; a tone at 250 Hz of magnitude 3."""
    frames = np.zeros((4, spec.N_FREQ))
    frames[0, 32] = 1.0
    frames[1, 16], frames[1, 64] = 1.0, 2.0
    frames[2] = 1.0
    frames[3, 8] = 3.0
    return frames


#: What the four frames' descriptors are, by the definitions in the notebook.
_NYQUIST = spec.SAMPLE_RATE / 2
_WANT = {
    "centroid": [1000.0, 1500.0, _NYQUIST / 2, 250.0],           # two tones: (500 * 1 + 2000 * 2) / 3
    "bandwidth": [0.0, math.sqrt(500_000.0), None, 0.0],        # two tones: sqrt((1 * 1000^2 + 2 * 500^2) / 3)
    "flatness": [None, None, 1.0, None],                         # only the flat spectrum is known exactly
    "rolloff": [1000.0, 2000.0, None, 250.0],
}


def _values(m: str, out, name: str, count: int) -> np.ndarray:
    if not isinstance(out, dict):
        fail(m, f"should return a dict {{descriptor: values}}, got {type(out).__name__}.")
    missing = [d for d in DESCRIPTORS if d not in out]
    if missing:
        fail(m, f"the dict lacks {missing}: its keys should be {list(DESCRIPTORS)}.")
    try:
        values = np.asarray(out[name], dtype=np.float64)
    except (TypeError, ValueError):
        fail(m, f"{name} should be numbers, got {type(out[name]).__name__}.")
    if values.shape != (count,):
        hint = ""
        if values.size == spec.N_FREQ or (values.ndim == 2 and spec.N_FREQ in values.shape):
            hint = (" LibROSA wants its spectrogram S as (bins, frames), the transpose of the (frames, bins) "
                    "input: pass S=magnitudes.T.")
        elif values.ndim == 2 and values.shape[-1] == count:
            hint = " LibROSA returns (1, frames): take row 0 of its result."
        fail(m, f"{name} should hold one value per frame, shape ({count},), got {values.shape}.{hint}")
    return values


@own_random_state
def check_descriptors(fn: Callable) -> None:
    """descriptors(magnitudes (M, F)) -> {centroid, bandwidth, flatness, rolloff: (M,) numpy}."""
    m = "descriptors"
    frames = _frames()
    for given in (torch.tensor(frames, dtype=torch.float32), frames):
        out = call(m, fn, given, hint="magnitudes may be a torch tensor (M, F): np.asarray(...) turns it into numpy.")
        found = {name: _values(m, out, name, len(frames)) for name in DESCRIPTORS}
    centroid = found["centroid"]
    if not np.allclose(centroid, _WANT["centroid"], rtol=1e-3, atol=0.5):
        got = centroid[1]
        cause = "the centroid is sum(nu |X|) / sum |X| over the bins."
        if math.isclose(got, (500 + 2000 * 4) / 5, rel_tol=1e-3):
            cause = ("that is the centroid of the POWER spectrum |X|^2 (weights 1 and 4): LibROSA's S here is the "
                     "magnitude |X| itself, as the frames come.")
        elif math.isclose(centroid[0], 1000 * 22050 / spec.SAMPLE_RATE, rel_tol=1e-3):
            cause = "the frequencies assume 22050 Hz, LibROSA's default: give sr=spec.SAMPLE_RATE (16 kHz)."
        elif not np.isfinite(centroid).all():
            cause = "NaN: a log of zero magnitudes? The descriptors take the magnitudes themselves, not their log."
        fail(m, f"for a tone at 1000 Hz, tones at 500 Hz (magnitude 1) and 2000 Hz (magnitude 2), a flat spectrum "
                f"and a tone at 250 Hz, expected centroids {_WANT['centroid']} Hz, got {centroid.round(1).tolist()}; "
                f"{cause}")
    bandwidth = found["bandwidth"]
    want = np.array([v for v in _WANT["bandwidth"] if v is not None])
    got = bandwidth[[0, 1, 3]]
    if not np.allclose(got, want, rtol=1e-3, atol=0.5):
        cause = ("the bandwidth is the spread around the centroid, sqrt(sum |X| (nu - c)^2 / sum |X|), of the "
                 "magnitudes.")
        if math.isclose(got[1], math.sqrt((1 * 1200 ** 2 + 4 * 300 ** 2) / 5), rel_tol=1e-3):
            cause = "that is the spread of the POWER spectrum: S is the magnitude |X|."
        fail(m, f"expected bandwidths {np.round(want, 1).tolist()} Hz for the tone, the two tones and the 250 Hz tone, "
                f"got {got.round(1).tolist()}; {cause}")
    flatness = found["flatness"]
    if not math.isclose(flatness[2], 1.0, rel_tol=1e-3) or not (flatness[[0, 1, 3]] < 1e-3).all():
        cause = "flatness is near 0 for a few sharp tones and 1 for a flat spectrum."
        if (flatness < 0).any() or (flatness > 1 + 1e-6).any():
            cause = "flatness lies between 0 and 1: is it computed on the magnitudes (LibROSA squares them itself)?"
        fail(m, f"expected the flat spectrum's flatness to be 1 and the tones' about 0, got {flatness.round(4).tolist()}; "
                f"{cause}")
    rolloff = found["rolloff"]
    want = np.array([_WANT["rolloff"][i] for i in (0, 1, 3)])
    if not np.allclose(rolloff[[0, 1, 3]], want, rtol=1e-3, atol=0.5):
        fail(m, f"expected rolloffs {want.tolist()} Hz for the tone, the two tones and the 250 Hz tone (85 % of the "
                f"spectrum lies at or below the highest tone), got {rolloff[[0, 1, 3]].round(1).tolist()}: check the "
                "sample rate and that S is (bins, frames) magnitudes.")
    passed(m, "centroid, bandwidth, flatness and rolloff of tones and a flat spectrum, in Hz at 16 kHz, "
              "from magnitudes")


def check_descriptor_distance(fn: Callable) -> None:
    """descriptor_distance(a, b) -> {descriptor: W1 between a[descriptor] and b[descriptor]}."""
    m = "descriptor_distance"
    base = {name: np.array([0.0, 0.0, 1.0, 1.0]) for name in DESCRIPTORS}
    cases = [
        ("the same values", base, base, 0.0, None),
        ("every value shifted by 100", base, {k: v + 100 for k, v in base.items()}, 100.0, None),
        ("{0, 0, 1, 1} against {-1, 2} (the same mean, a wider spread)", base,
         {k: np.array([-1.0, 2.0]) for k in base}, 1.0,
         "the difference of the means is 0 here, but the distributions differ: W1 compares whole distributions "
         "(the area between the two CDFs), e.g. scipy.stats.wasserstein_distance(a[name], b[name])."),
        ("{0, 0, 1, 1} against {0, 1} (a sample of another size)", base, {k: np.array([0.0, 1.0]) for k in base}, 0.0,
         "the two sets may hold different numbers of frames: compare their distributions, not frame by frame."),
    ]
    for what, a, b, want, hint in cases:
        out = call(m, fn, a, b, hint=hint or "")
        if not isinstance(out, dict) or any(d not in out for d in DESCRIPTORS):
            fail(m, f"should return a dict with one distance per descriptor {list(DESCRIPTORS)}, got {out!r}.")
        for name in DESCRIPTORS:
            try:
                value = float(out[name])
            except (TypeError, ValueError):
                fail(m, f"{name}: the distance should be one number, got {type(out[name]).__name__}.")
            if not math.isclose(value, want, abs_tol=1e-6):
                fail(m, f"{what}: expected {want} for {name}, got {value:.6g}. {hint or 'W1 is the mean absolute gap between matched quantiles.'}")
    passed(m, "0 for the same values, a shift costs its size, spreads and sample sizes handled")


def _path(m: str, out, steps: int, what: str) -> torch.Tensor:
    value = checked_tensor(m, what, out, (steps, 2), "one row (x, y) per step of the path.")
    return value.double()


def check_paths(line: Callable, circle: Callable, spiral: Callable, random_walk: Callable) -> None:
    """line, circle, spiral, random_walk: (steps, 2) points of a plane."""
    got = _path("line", call("line", line, torch.tensor([0.0, 0.0]), torch.tensor([2.0, 4.0]), 5), 5,
                "line((0, 0), (2, 4), 5)")
    want = torch.tensor([[0, 0], [0.5, 1], [1, 2], [1.5, 3], [2, 4]], dtype=torch.float64)
    if not close(got, want):
        fail("line", f"line((0, 0), (2, 4), 5) should be {show(want)} (evenly spaced, both ends included), got {show(got)}.")
    passed("line", "evenly spaced, both ends included")

    centre = torch.tensor([1.0, 2.0])
    got = _path("circle", call("circle", circle, centre, 3.0, 4), 4, "circle((1, 2), 3, 4)")
    want = torch.tensor([[4, 2], [1, 5], [-2, 2], [1, -1]], dtype=torch.float64)
    if not close(got, want):
        radius = (got - centre.double()).norm(dim=-1)
        middle = got.mean(0)
        if close(got, centre.double() + 2 * (want - centre.double())):
            cause = "every point is 6 from the centre, twice the radius 3: the radius is the distance from the centre."
        elif close(got, want - centre.double()):
            cause = "the circle is centred on (0, 0): add the centre to every point."
        elif close(got, centre.double() + 0.5 * (want - centre.double())):
            cause = "every point is 1.5 from the centre: the radius was halved (used as a diameter?)."
        elif close(got[0], got[-1]):
            cause = "the last point repeats the first: with `steps` points the angles are 2 pi k / steps, k < steps."
        elif close(got, want[[0, 3, 2, 1]]):
            cause = "the circle goes clockwise: angle 2 pi k / steps, point centre + radius (cos, sin)."
        elif not torch.allclose(radius, torch.full_like(radius, 3.0), atol=1e-4):
            cause = f"the points lie at distances {show(radius)} from the centre, not 3."
        elif not torch.allclose(middle, centre.double(), atol=1e-4):
            cause = f"the points are centred on {show(middle)}, not on (1, 2)."
        else:
            cause = "start at angle 0, (centre_x + radius, centre_y), and go anticlockwise in equal angles."
        fail("circle", f"circle((1, 2), 3, 4) should be {show(want)}, got {show(got)}: {cause}")
    passed("circle", "its radius, its centre, anticlockwise from angle 0, the start not repeated")

    got = _path("spiral", call("spiral", spiral, torch.tensor([1.0, -1.0]), 1.0, 3.0, 2, 9), 9,
                "spiral((1, -1), 1, 3, 2 turns, 9 steps)")
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    angle, radius = 4 * math.pi * t, 1 + 2 * t
    want = torch.tensor([1.0, -1.0], dtype=torch.float64) + radius[:, None] * torch.stack([angle.cos(), angle.sin()], -1)
    if not close(got, want):
        found = (got - torch.tensor([1.0, -1.0], dtype=torch.float64)).norm(dim=-1)
        fail("spiral", f"spiral((1, -1), start 1, end 3, 2 turns, 9 steps) should be {show(want)}, got {show(got)}; "
                       f"its radii are {show(found)} (expected 1 to 3 in equal steps, both ends included, and the "
                       "angle 2 pi turns t for t from 0 to 1).")
    passed("spiral", "radius growing linearly from start to end over whole turns, both ends included")

    m = "random_walk"
    start = torch.tensor([1.0, 1.0])
    walk = _path(m, call(m, random_walk, start, 0.5, 4000, torch.Generator().manual_seed(0)), 4000,
                 "random_walk((1, 1), 0.5, 4000 steps)")
    again = _path(m, call(m, random_walk, start, 0.5, 4000, torch.Generator().manual_seed(0)), 4000, "a second walk")
    if not close(walk[0], start.double()):
        fail(m, f"the walk should start at `start` (1, 1), got {show(walk[0])} as its first point.")
    if not close(walk, again):
        fail(m, "two walks with generators of the same seed differ: draw the steps with "
                "torch.randn(..., generator=generator), not the global random state.")
    steps = walk.diff(dim=0)
    std, mean = steps.std(0), steps.mean(0)
    if not torch.allclose(std, torch.full_like(std, 0.5), rtol=0.06):
        cause = " (that is 0.5 squared: step_size is a standard deviation)" if torch.allclose(std, torch.full_like(std, 0.25), rtol=0.06) else ""
        fail(m, f"the steps' standard deviation should be step_size = 0.5 in each direction, got {show(std)}{cause}.")
    if mean.abs().max() > 0.05:
        fail(m, f"the steps should have mean 0 (Gaussian, not uniform in [0, 1)), got {show(mean)}.")
    passed(m, "starts at start, Gaussian steps of the given size, drawn from the generator")


@own_random_state
def check_note_path(fn: Callable, model_class: Callable) -> None:
    """note_path(model, spectra (T, F)) -> (T, Z): the encoder's mean of each frame."""
    m = "note_path"
    torch.manual_seed(0)
    model = model_class()
    spectra = torch.rand(12, spec.N_FREQ) * 3
    path = checked_tensor(m, "note_path(model, spectra (12, F))", call(m, fn, model, spectra), (12, spec.LATENT_DIM),
                          "one code (Z values) per frame.")
    again = checked_tensor(m, "a second call", call(m, fn, model, spectra), (12, spec.LATENT_DIM))
    with torch.no_grad():
        _, mean, _ = model.inference(spectra)
    if not close(path, mean):
        cause = ("two calls on the same note give different paths: these are posterior SAMPLES (z). A path is "
                 "played back the same way every time: take the encoder's mean.") if not close(path, again) else \
            "the codes differ from the encoder's mean of each frame (model.inference(spectra)[1])."
        fail(m, cause)
    passed(m, "the encoder's mean of every frame, the same path on every call")


@own_random_state
def check_conditional_vae(model_class: Callable) -> None:
    """ConditionalVAE: encoder and decoder both read the condition (..., C)."""
    m = "ConditionalVAE"
    torch.manual_seed(0)
    model = call(m, model_class)
    F, Z, C = spec.N_FREQ, spec.LATENT_DIM, CONDITION_DIM
    for name, inputs in (("mlp_x_z", F + C), ("mlp_z_x", Z + C)):
        first = next((layer for layer in getattr(model, name, torch.nn.Sequential()).modules()
                      if isinstance(layer, torch.nn.Linear)), None)
        if first is None:
            fail(m, f"build() should create {name}, a dense tanh stack as in lab 1.")
        if first.in_features != inputs:
            side = "encoder" if name == "mlp_x_z" else "decoder"
            fail(m, f"the first layer of {name} takes {first.in_features} inputs; the {side} reads "
                    f"{'the frame' if side == 'encoder' else 'the code'} and the condition, "
                    f"{'x_dim' if side == 'encoder' else 'z_dim'} + condition_dim = {inputs}.")
    x = torch.rand(3, 5, F) * 2
    c = torch.rand(3, 5, C).requires_grad_()
    out = call(m, model.inference, x, c, hint="inference(x, c) takes the frames (..., F) and their conditions (..., C).")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(m, f"inference(x, c) should return (z, mean, logvar), got {type(out).__name__}.")
    for what, value in zip(("z", "mean", "logvar"), out):
        checked_tensor(m, f"inference's {what}", value, (3, 5, Z))
    mean = out[1]
    grad = torch.autograd.grad(mean.sum(), c, allow_unused=True)[0]
    if grad is None or grad.abs().sum() == 0:
        fail(m, "the encoder's mean does not change with the condition c: concatenate c to x before mlp_x_z.")
    z = torch.randn(3, 5, Z)
    c2 = torch.rand(3, 5, C).requires_grad_()
    eta = checked_tensor(m, "generation_x(z, c)", call(m, model.generation_x, z, c2), (3, 5, F))
    grad = torch.autograd.grad(model.generation_x(z, c2).sum(), c2, allow_unused=True)[0]
    if grad is None or grad.abs().sum() == 0:
        fail(m, "generation_x ignores the condition: changing c does not change eta. The decoder must read it too "
                "(concatenate c to z before mlp_z_x): a condition seen by the encoder only cannot be set when "
                "generating.")
    batch = torch.cat([x, c.detach()], dim=-1)
    loss = call(m, model.loss, batch)
    if not isinstance(loss, (tuple, list)) or not torch.isfinite(loss[0]):
        fail(m, f"the loss of a batch (frames with their conditions) should be finite, got {loss!r}.")
    del eta
    passed(m, "encoder and decoder both read the condition; shapes (..., Z) and (..., F); a finite loss")
