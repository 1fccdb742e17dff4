"""Public checks of the synth lab's results: checked here, recorded for the grader.

Each graded check first records the notebook's numbers (`vaelab_core.records`) in the cell that
calls it, then checks what can be checked without a reference and says what looks wrong. The grader
judges the records against bands made from the reference notebook on the grading machine.
"""

from __future__ import annotations

import math

import numpy as np

from vaelab_core.checking import fail
from vaelab_core.notes import NOTE_FAMILIES
from vaelab_core.records import finite_numbers, plain, record
from vaelab_core.synthesis import DESCRIPTORS

#: The models of parts 1 and 4, the generated sets of part 2, the paths of part 3.
MODELS = ("VAE", "WAE")
GENERATED = ("VAE recon", "VAE prior", "WAE recon", "WAE prior")
PATHS = ("line", "circle", "spiral", "random walk", "note path")
PITCH_MODELS = ("CVAE", "VAE, nearest note")


def _number(value) -> float | None:
    array = finite_numbers(plain(value), ())
    return None if array is None else float(array)


def check_models(scores: dict, epochs: int) -> None:
    """Part 1: scores {"VAE"|"WAE": {"recon": float, "eval": {"total", "recon", "kl"},
    "seconds_per_epoch": float}} after `epochs` epochs each. Not graded, and so not recorded:
    part 1 runs only the code given by labs 1 and 2."""
    part = "models"
    for name in MODELS:
        score = scores.get(name) or {}
        if _number(score.get("recon")) is None:
            fail(part, f"{name}: recon should be a finite number (nats per eval frame), got {score.get('recon')!r}. "
                       "Did its training finish without NaN?")
        if _number(score.get("seconds_per_epoch")) is None or score["seconds_per_epoch"] <= 0:
            fail(part, f"{name}: seconds_per_epoch should be a positive number, got {score.get('seconds_per_epoch')!r}.")
    print(f"✓ models: VAE and WAE trained {epochs} epochs; recon per eval frame, posterior mean decoded: "
          + ", ".join(f"{name} {scores[name]['recon']:.1f}" for name in MODELS))


def check_generation(distances: dict, data: dict) -> None:
    """Part 2: distances {set: {descriptor: W1 / data's std, ..., "mean": float}} of GENERATED;
    data {descriptor: values} of the held-out frames (flatness in dB), whose medians are recorded."""
    part = "generation"
    medians = {d: float(np.median(np.asarray(data.get(d), dtype=np.float64))) if d in data else None
               for d in DESCRIPTORS}
    record("test_generation", distances={name: plain(distances.get(name)) for name in GENERATED}, data_median=medians)
    for name in GENERATED:
        row = distances.get(name) or {}
        for d in (*DESCRIPTORS, "mean"):
            value = _number(row.get(d))
            if value is None or value < 0:
                fail(part, f"{name}, {d}: the distance should be a number >= 0, got {row.get(d)!r}.")
    for model in MODELS:
        if distances[f"{model} recon"]["mean"] > distances[f"{model} prior"]["mean"] + 1.0:
            fail(part, f"{model}: its reconstructions are further from the data ({distances[f'{model} recon']['mean']:.2f}) "
                       f"than its prior samples ({distances[f'{model} prior']['mean']:.2f}) by more than the data's "
                       "spread: are the two sets swapped, or the reconstructions decoded from something else?")
    best = min(MODELS, key=lambda model: distances[f"{model} prior"]["mean"])
    print(f"✓ generation: mean distance to the data, prior samples: "
          + ", ".join(f"{model} {distances[f'{model} prior']['mean']:.3f}" for model in MODELS)
          + f" ({best} closer); reconstructions: "
          + ", ".join(f"{model} {distances[f'{model} recon']['mean']:.3f}" for model in MODELS))


def check_smoothness(smoothness: dict, in_plane: dict, radius: float) -> None:
    """Part 3: smoothness {path: {descriptor: mean |step| / data's std}}; in_plane {path: (S, 2)}
    points of the paths in the plane; radius, the circle's intended radius. The circle's closure
    and its radius over the intended one are recorded with the smoothness."""
    part = "paths"
    circle = in_plane.get("circle")
    found = _radius(circle)
    record("test_smoothness", smoothness={name: plain(smoothness.get(name)) for name in PATHS},
           closed={"circle": _closing_gap(circle)},
           radius={"circle": None if found is None or not radius else found / float(radius)})
    for name in PATHS:
        row = smoothness.get(name) or {}
        for d in DESCRIPTORS:
            value = _number(row.get(d))
            if value is None or value < 0:
                fail(part, f"{name}, {d}: the step-to-step change should be a number >= 0, got {row.get(d)!r}.")
    print("✓ paths: mean step-to-step change of the centroid (in units of the data's spread): "
          + ", ".join(f"{name} {smoothness[name]['centroid']:.3f}" for name in PATHS))


def _radius(points) -> float | None:
    """The mean distance of a closed path's points from their own centre."""
    try:
        return float((points - points.mean(0)).norm(dim=-1).mean())
    except (TypeError, AttributeError, RuntimeError):
        return None


def _closing_gap(points) -> float | None:
    """How far a closed path's last point lies from its first, relative to its mean step."""
    try:
        steps = (points[1:] - points[:-1]).norm(dim=-1)
        return float((points[-1] - points[0]).norm() / steps.mean().clamp_min(1e-12))
    except (TypeError, AttributeError, IndexError, RuntimeError):
        return None


def check_pitch(pitch_control: dict) -> None:
    """Part 4: pitch_control {model: {"all"|family: {"median_semitones", "within_half_semitone",
    "correlation", "notes"}}} for PITCH_MODELS."""
    part = "pitch"
    record("test_pitch", pitch={name: plain(pitch_control.get(name)) for name in PITCH_MODELS})
    for name in PITCH_MODELS:
        rows = pitch_control.get(name) or {}
        overall = rows.get("all") or {}
        for key in ("median_semitones", "correlation"):
            if _number(overall.get(key)) is None:
                fail(part, f"{name}: {key} over all requests should be a finite number, got {overall.get(key)!r}. "
                           "Did every decoded spectrum give an f0 (a NaN comes from a flat or non-finite spectrum)?")
        unknown = sorted(set(rows) - {"all", *NOTE_FAMILIES})
        if unknown:
            fail(part, f"{name}: unknown families {unknown}; the families are {list(NOTE_FAMILIES)}.")
    cvae, near = (pitch_control[name]["all"] for name in PITCH_MODELS)
    verdict = "closer to the request" if cvae["median_semitones"] < near["median_semitones"] else "not closer"
    print(f"✓ pitch: median error {cvae['median_semitones']:.2f} semitones for the conditional VAE, "
          f"{near['median_semitones']:.2f} for the VAE given the nearest note ({verdict}); correlation of log f0 "
          f"{cvae['correlation']:.2f} and {near['correlation']:.2f}")
    if not math.isfinite(cvae["correlation"]):
        fail(part, "the conditional VAE's correlation is not a number.")
