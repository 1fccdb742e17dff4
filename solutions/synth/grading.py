"""How synth is graded: the hidden tests of the descriptors, the paths, the note path, the
conditional VAE, and the four parts' results.

Instructor-only, like the notebook beside it: the grader loads this file by path at grading
time (grader/assignment.py) and nothing installed contains it.

- Functions (test_descriptors ... test_conditional_vae). `probe` runs in a separate process on
  the submission's own code (its cells up to the ConditionalVAE cell) and calls each function on
  fixed inputs, with the reference's other functions standing in for the student's: a wrong
  descriptor costs test_descriptors, not the distance built on it. The random walk is judged by
  its properties (its start, the size and mean of its steps, the generator), the conditional VAE
  by where the condition reaches (gradients of the encoder's mean and of the decoder's output
  with respect to it) and, when its layers hold the reference's weights, by its outputs.
- Results (test_generation, test_smoothness, test_pitch; part 1 runs only code given by labs 1
  and 2, so it is checked in the notebook but not graded). The locked check cells record the notebook's numbers
  (vaelab_core.labs.synth.result_checks); the judges compare them with bands made by
  `vaelab grade bands` from reference runs on the course's notes, on the grading machine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from grader.engine.judge import Check, centred_band, shown_number, within_band
from vaelab_core import spec

FUNCTIONS = ("descriptors", "descriptor_distance", "line", "circle", "spiral", "random_walk", "note_path")
#: Lab 1's model and lab 2's loss, MMD and WAE are cells given from those labs.
REFERENCE_CELLS = ("imports", "lab1_model", "lab2_beta_elbo", "lab2_mmd", "lab2_wae", "descriptors",
                   "descriptor_distance", "paths", "note_path", "conditional_vae")
#: The probe runs the submission's code cells up to and including this one.
STUDENT_CODE_UNTIL = "conditional_vae"
METHOD_TESTS = ("test_descriptors", "test_descriptor_distance", "test_paths", "test_note_path",
                "test_conditional_vae")
RESULT_TESTS = ("test_generation", "test_smoothness", "test_pitch")
#: Cells that train (timed apart in the grading benchmark).
TRAINING_CELLS = ("train_models", "pitch_run")
#: Imported once by a warm start, before it forks kernels and probes: LibROSA's spectral features
#: compile their numba functions on import (about 15 s in a sandbox, where the cache beside them
#: cannot be written), which every kernel and probe would pay again.
PRELOAD = ("librosa.feature.spectral", "scipy.stats")
STUDENT_WORK = """Fill in the descriptors and their distance, the four synthesis paths and a note's path
(section 1), and the conditional VAE's three methods, each followed by a self-check cell that
stops with an explanation until it is right, then run the cells from top to bottom (about a
minute): part 1 trains a VAE and a WAE on instrument notes, part 2 compares what they generate,
part 3 walks synthesis paths, part 4 asks a conditional VAE for pitches."""
DESCRIPTORS = ("centroid", "bandwidth", "flatness", "rolloff")
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "vocal")
PATHS = ("line", "circle", "spiral", "random walk", "note path")


def course_data(data_dir: Path) -> dict[str, Path]:
    """The notes of the course, in its data folder (a course holds its own data): a copy of the
    TA's set when $VAELAB_NOTES names one (checked first), else the kit's own built-in notes,
    made once."""
    import shutil

    from vaelab_core.atomic_files import atomic_path
    from vaelab_core.notes import NOTES_ENV, load_notes

    path = data_dir / "notes.npz"
    given = os.environ.get(NOTES_ENV)
    if given and Path(given).resolve() != path.resolve():
        load_notes(given)  # a clear error now rather than in every kernel
        if not path.is_file() or path.read_bytes() != Path(given).read_bytes():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                shutil.copyfile(given, tmp)
        return {NOTES_ENV: path}
    try:
        load_notes(path)
    except Exception:  # missing or unreadable: made again
        from data_prep.notes.synthetic import main as synthesise

        synthesise(path, force=path.exists(), quiet=True, command="vaelab grade init (the course's built-in notes)")
    return {NOTES_ENV: path}


# --- probes: run on the submission's code, in a process of their own --------------------------

def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _frames(seed: int, count: int = 60) -> torch.Tensor:
    """(count, F) magnitude frames with harmonics, a sloping envelope and a noise floor: the
    kind a note or a decoder gives, so that every descriptor is far from its extremes."""
    g = _generator(seed)
    bins = torch.arange(spec.N_FREQ, dtype=torch.float32)
    f0_bins = 3 + 12 * torch.rand(count, 1, generator=g)
    comb = torch.exp(-0.5 * ((bins / f0_bins - torch.round(bins / f0_bins)) * f0_bins / 0.8) ** 2)
    slope = torch.exp(-bins / (20 + 80 * torch.rand(count, 1, generator=g)))
    noise = 0.01 * torch.rand(count, spec.N_FREQ, generator=g)
    return (3 * torch.rand(count, 1, generator=g)) * (comb * slope + noise)


def probe_descriptors(fn) -> dict:
    frames = _frames(1)
    found = {name: torch.as_tensor(np.asarray(values, dtype=np.float64)) for name, values in fn(frames).items()
             if name in DESCRIPTORS}
    numpy_found = fn(frames.numpy())
    found["numpy_ok"] = all(np.allclose(np.asarray(numpy_found[d], dtype=np.float64), found[d].numpy(), rtol=1e-6,
                                        atol=1e-9) for d in DESCRIPTORS if d in found and d in numpy_found)
    return found


def probe_descriptor_distance(fn) -> dict:
    g = np.random.default_rng(2)
    a = {d: g.normal(1000, 200, 300) for d in DESCRIPTORS}
    b = {d: g.gamma(2.0, 300, 180) + 200 for d in DESCRIPTORS}
    found = {f"ab_{d}": float(v) for d, v in fn(a, b).items() if d in DESCRIPTORS}
    found.update({f"ba_{d}": float(v) for d, v in fn(b, a).items() if d in DESCRIPTORS})
    return found


def probe_paths(line, circle, spiral, random_walk) -> dict:
    found = {"line": torch.as_tensor(line(torch.tensor([-1.0, 2.0]), torch.tensor([3.0, 0.5]), 7)).double(),
             "circle": torch.as_tensor(circle(torch.tensor([0.5, -2.0]), 1.7, 9)).double(),
             "spiral": torch.as_tensor(spiral(torch.tensor([-0.5, 1.0]), 0.3, 2.2, 3, 25)).double()}
    start = torch.tensor([2.0, -1.0])
    walk = torch.as_tensor(random_walk(start, 0.3, 20_000, _generator(3))).double()
    again = torch.as_tensor(random_walk(start, 0.3, 20_000, _generator(3))).double()
    other = torch.as_tensor(random_walk(start, 0.3, 20_000, _generator(4))).double()
    steps = walk.diff(dim=0) if walk.dim() == 2 and len(walk) > 1 else torch.zeros(1, 2)
    found["walk"] = {"shape": list(walk.shape), "start": walk[0].tolist() if len(walk) else [],
                     "std": steps.std(0).tolist(), "mean": steps.mean(0).tolist(),
                     "repeatable": bool(torch.equal(walk, again)), "seeded": not torch.equal(walk, other),
                     "independent": float(torch.corrcoef(torch.stack([steps[:-1, 0], steps[1:, 0]]))[0, 1])}
    return found


def _seeded(cls, reference_cls=None, seed: int = 5):
    """The student's class built under a seed; with `reference_cls`, holding the reference's weights
    when the layers have the same names and shapes (else its own: judged by its properties)."""
    torch.manual_seed(seed)
    model = cls()
    if reference_cls is not None:
        torch.manual_seed(seed)
        weights = reference_cls().state_dict()
        try:
            model.load_state_dict(weights)
            model.same_weights = True
        except (RuntimeError, KeyError):
            model.same_weights = False
    return model.eval()


def probe_note_path(fn, model_cls) -> dict:
    model = _seeded(model_cls)
    spectra = _frames(6, 20)
    path = torch.as_tensor(fn(model, spectra)).detach()
    again = torch.as_tensor(fn(model, spectra)).detach()
    with torch.no_grad():
        mean = model.inference(spectra)[1]
    return {"path": path, "again": again, "mean": mean}


def probe_conditional_vae(cls, reference_cls) -> dict:
    from vaelab_core.synthesis import CONDITION_DIM, condition

    model = _seeded(cls, reference_cls)
    g = _generator(7)
    x = _frames(8, 12).reshape(3, 4, spec.N_FREQ)
    c = condition(torch.randint(0, len(FAMILIES), (12,), generator=g),
                  torch.randint(40, 90, (12,), generator=g)).reshape(3, 4, CONDITION_DIM).requires_grad_()
    z, mean, logvar = model.inference(x, c)
    mean_reads_c = torch.autograd.grad(mean.sum(), c, allow_unused=True)[0]
    z_given = torch.randn(3, 4, spec.LATENT_DIM, generator=g)
    c2 = c.detach().clone().requires_grad_()
    eta = model.generation_x(z_given, c2)
    eta_reads_c = torch.autograd.grad(eta.sum(), c2, allow_unused=True)[0]
    with torch.no_grad():
        loss = model.loss(torch.cat([x, c.detach()], dim=-1))
    return {"same_weights": getattr(model, "same_weights", False),
            "mean": mean.detach(), "logvar": logvar.detach(), "eta": eta.detach(),
            "mean_reads_c": float(mean_reads_c.abs().sum()) if mean_reads_c is not None else 0.0,
            "eta_reads_c": float(eta_reads_c.abs().sum()) if eta_reads_c is not None else 0.0,
            "loss": [float(v) for v in loss]}


def probe(student: dict, reference: dict) -> dict[str, dict]:
    """{test id: probe} on the submission's namespace `student`, each function with the
    reference's other functions standing in for the student's while it runs."""
    def standing_in(keep: tuple[str, ...], run):
        others = [f for f in FUNCTIONS if f not in keep]
        saved = {f: student[f] for f in others if f in student}
        student.update({f: reference[f] for f in others})
        try:
            return run()
        finally:
            for f in others:
                if f in saved:
                    student[f] = saved[f]
                else:
                    del student[f]

    def needs(*names: str):
        for name in names:
            if not callable(student.get(name)):
                raise NotImplementedError(f"{name} is not defined")

    def descriptors():
        needs("descriptors")
        return standing_in(("descriptors",), lambda: probe_descriptors(student["descriptors"]))

    def distance():
        needs("descriptor_distance")
        return standing_in(("descriptor_distance",), lambda: probe_descriptor_distance(student["descriptor_distance"]))

    def paths():
        needs("line", "circle", "spiral", "random_walk")
        return standing_in(("line", "circle", "spiral", "random_walk"),
                           lambda: probe_paths(*(student[n] for n in ("line", "circle", "spiral", "random_walk"))))

    def note_path():
        needs("note_path")
        return standing_in(("note_path",), lambda: probe_note_path(student["note_path"], reference["SpeechVAE"]))

    def conditional():
        if not isinstance(student.get("ConditionalVAE"), type):
            raise NotImplementedError("the class ConditionalVAE is not defined")
        return standing_in((), lambda: probe_conditional_vae(student["ConditionalVAE"], reference["ConditionalVAE"]))

    return {"test_descriptors": descriptors, "test_descriptor_distance": distance, "test_paths": paths,
            "test_note_path": note_path, "test_conditional_vae": conditional}


# --- judges of the functions: the student's probe against the reference's ---------------------

def _close(mine, want, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    try:
        mine, want = np.asarray(mine, dtype=np.float64), np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return mine.shape == want.shape and bool(np.isfinite(mine).all()) and np.allclose(mine, want, rtol=rtol, atol=atol)


def judge_descriptors(mine: dict, ref: dict) -> list[Check]:
    def right(*names):
        return all(_close(mine.get(n), ref[n]) for n in names)

    centroid = mine.get("centroid")
    power = ""
    if isinstance(centroid, torch.Tensor) and not right("centroid") and centroid.shape == ref["centroid"].shape:
        if float(centroid.double().median()) < float(ref["centroid"].double().median()):
            power = " (lower than the reference's everywhere: the power spectrum |X|^2, which favours the strong low harmonics?)"
    return [
        Check(1, right("centroid", "bandwidth") and mine.get("numpy_ok") is True,
              "the spectral centroid and bandwidth of magnitude frames are right (Hz, 16 kHz)",
              "the centroid or the bandwidth differs from LibROSA's on the magnitudes" + power +
              ": S must be the magnitudes |X| as given, (bins, frames), with sr = spec.SAMPLE_RATE; torch and "
              "numpy inputs must give the same values."),
        Check(1, right("flatness"), "the spectral flatness is right",
              "the flatness differs from LibROSA's spectral_flatness(S=magnitudes): it squares the magnitudes "
              "itself (power=2), so give it |X|, not |X|^2 nor a log."),
        Check(1, right("rolloff"), "the spectral rolloff is right",
              "the rolloff differs from LibROSA's spectral_rolloff on the magnitudes, at 16 kHz (85 % by default)."),
    ]


def judge_descriptor_distance(mine: dict, ref: dict) -> list[Check]:
    keys = [f"{side}_{d}" for side in ("ab", "ba") for d in DESCRIPTORS]
    right = all(_close(mine.get(k), ref[k], rtol=1e-6) for k in keys)
    symmetric = all(_close(mine.get(f"ab_{d}"), mine.get(f"ba_{d}"), rtol=1e-9) for d in DESCRIPTORS)
    return [
        Check(1, right, "W1 between two samples of different sizes is right, for every descriptor",
              "the distances differ from the 1-D Wasserstein distance between the two samples (the area between "
              "their CDFs): scipy.stats.wasserstein_distance(a[name], b[name]); a difference of means or of "
              "sorted values of equal-size samples is not it."),
        Check(1, symmetric, "the distance is symmetric", "distance(a, b) differs from distance(b, a): W1 is symmetric."),
    ]


def judge_paths(mine: dict, ref: dict) -> list[Check]:
    walk = mine.get("walk") or {}
    std, mean = np.asarray(walk.get("std", [0, 0]), dtype=float), np.asarray(walk.get("mean", [9, 9]), dtype=float)
    walk_ok = (walk.get("shape") == [20_000, 2] and _close(walk.get("start"), [2.0, -1.0])
               and np.allclose(std, 0.3, rtol=0.03) and np.abs(mean).max() < 0.01
               and walk.get("repeatable") is True and walk.get("seeded") is True
               and abs(walk.get("independent", 1.0)) < 0.05)
    circle = mine.get("circle")
    centre = torch.tensor([0.5, -2.0], dtype=torch.float64)
    circle_hint = ""
    if isinstance(circle, torch.Tensor) and circle.shape == ref["circle"].shape and not _close(circle, ref["circle"]):
        radius = float((circle - centre).norm(dim=-1).mean())
        middle = circle.mean(0)
        circle_hint = (f" (its points lie {radius:.3f} from the centre, the radius is 1.7)" if abs(radius - 1.7) > 1e-3 else
                       f" (its points are centred on {middle.numpy().round(3).tolist()}, the centre is (0.5, -2))"
                       if not torch.allclose(middle, centre, atol=1e-3) else "")
    return [
        Check(1, _close(mine.get("line"), ref["line"]), "the line: evenly spaced, both ends included",
              "the line differs from `steps` evenly spaced points from start to end, both included."),
        Check(1, _close(circle, ref["circle"]), "the circle: its centre and radius, anticlockwise from angle 0",
              "the circle differs from centre + radius (cos a, sin a), a = 2 pi k / steps, k < steps" + circle_hint + "."),
        Check(1, _close(mine.get("spiral"), ref["spiral"]), "the spiral: the radius growing linearly over whole turns",
              "the spiral differs: angle 2 pi turns t and radius start + (end - start) t for t from 0 to 1, "
              "both ends included."),
        Check(1, walk_ok, "the random walk: from start, independent Gaussian steps of the given size, from the generator",
              "the random walk should start at `start`, move by independent N(0, step_size^2) steps in each "
              f"direction (found standard deviations {np.round(std, 3).tolist()}, means {np.round(mean, 3).tolist()}), "
              "and draw them from the generator it is given (the same seed gives the same walk)."),
    ]


def judge_note_path(mine: dict, ref: dict) -> list[Check]:
    path, again, mean = mine.get("path"), mine.get("again"), mine.get("mean")
    right = isinstance(path, torch.Tensor) and _close(path, mean, rtol=1e-5, atol=1e-6) and _close(again, path, rtol=0, atol=0)
    sampled = isinstance(path, torch.Tensor) and isinstance(again, torch.Tensor) and path.shape == again.shape \
        and not torch.equal(path, again)
    return [Check(1, right, "the note path is the encoder's mean of every frame",
                  "the note path differs from the encoder's means of the frames" +
                  (": two calls give two different paths, so these are posterior samples; a path to play back is "
                   "the mean, model.inference(spectra)[1]." if sampled else "."))]


def judge_conditional_vae(mine: dict, ref: dict) -> list[Check]:
    outputs = mine.get("same_weights") is True and all(_close(mine.get(k), ref[k], rtol=1e-4, atol=1e-5)
                                                        for k in ("mean", "logvar", "eta"))
    loss = mine.get("loss")
    finite = isinstance(loss, list) and len(loss) == 3 and all(math.isfinite(v) for v in loss)
    return [
        Check(1, mine.get("mean_reads_c", 0) > 0, "the encoder reads the condition",
              "the encoder's mean does not change with the condition: q(z | x, c) reads both, concatenate c to x "
              "before mlp_x_z."),
        Check(1, mine.get("eta_reads_c", 0) > 0, "the decoder reads the condition",
              "the decoder's eta does not change with the condition: p(x | z, c) reads both (concatenate c to z "
              "before mlp_z_x); a condition given to the encoder only cannot be set when generating."),
        Check(1, outputs and finite, "with the reference's weights, its mean, log-variance and eta are the reference's",
              "with lab 1's layers widened by the condition and the reference's weights loaded, the outputs differ "
              "(or the layers do not take the reference's weights: the first layers of mlp_x_z and mlp_z_x take "
              "x_dim + condition_dim and z_dim + condition_dim inputs, with the condition after x or z)."),
    ]


# --- judges of the results: the notebook's records against the bands ------------------------

def _get(record: dict | None, *keys):
    value = record or {}
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _outside(values: dict, bands: dict) -> list[str]:
    return [f"{name} {shown_number(values.get(name))} (band {band[0]:.3f} to {band[1]:.3f})"
            for name, band in bands.items() if not within_band(values.get(name), band)]


def judge_generation(record: dict | None, bands: dict) -> list[Check]:
    """Part 2: the mean relative descriptor distance of each set to the data. Distances between
    descriptor distributions mean something only if the descriptors are right, so both checks
    also need the data's own descriptors (the same frames for everyone: their medians tell a
    wrong descriptor on any note set)."""
    found = {name: _get(record, "distances", name, "mean") for name in bands["mean"]}
    recon = {n: v for n, v in found.items() if n.endswith("recon")}
    prior = {n: v for n, v in found.items() if n.endswith("prior")}
    medians = {d: _get(record, "data_median", d) for d in bands["data_median"]}
    data_out = _outside(medians, bands["data_median"])
    data_text = (["the held-out frames' median descriptors differ from the reference's: " + "; ".join(data_out)
                  + " (flatness in dB): descriptors?"] if data_out else [])
    checks = []
    for what, sets in (("reconstructions'", recon), ("generated spectra's", prior)):
        out = _outside(sets, {n: bands["mean"][n] for n in sets})
        checks.append(Check(1, not data_out and not out,
                            f"the data's descriptors are right and the {what} descriptor distances match the reference's",
                            "; ".join(data_text + ([f"descriptor distances of the {what.rstrip(chr(39) + 's')}s outside "
                                                    "the reference's bands: " + "; ".join(out)] if out else [])) + "."))
    return checks


def judge_smoothness(record: dict | None, bands: dict) -> list[Check]:
    """Part 3: how much the centroid changes per step along the line, the spiral and the random
    walk; the circle's radius and closure (its geometry: the radius over the one asked for is 1,
    on any machine and any note set). The note path is judged by test_note_path on its own:
    posterior samples change what it sounds like by as little as the note set allows."""
    found = {name: _get(record, "smoothness", name, "centroid") for name in ("line", "spiral", "random walk")}
    problems = _outside(found, {n: bands["centroid"][n] for n in found})
    gap = _get(record, "closed", "circle")
    closes = isinstance(gap, (int, float)) and math.isfinite(gap) and abs(gap - 1) < 0.05
    radius = _get(record, "radius", "circle")
    round_ok = within_band(radius, bands["circle_radius"])
    circle_problems = ([] if round_ok else [f"its radius is {shown_number(radius)} times the one asked for"]) + (
        [] if closes else [f"its last point is {shown_number(gap)} steps from its first (one step closes the loop)"])
    return [
        Check(1, not problems, "the line, the spiral and the random walk change as smoothly as the reference's",
              "along the paths of the plane: " + "; ".join(problems) + " (line, spiral, random_walk?)."),
        Check(1, not circle_problems, "the circle has the radius asked for and closes",
              "the circle: " + "; ".join(circle_problems) + " (circle: centre + radius (cos a, sin a))."),
    ]


def judge_pitch(record: dict | None, bands: dict) -> list[Check]:
    """Part 4: the conditional VAE's pitch control, and the unconditional baseline's."""
    checks = []
    for model, what in (("CVAE", "the conditional VAE follows the requested pitches as the reference's does"),
                        ("VAE, nearest note", "the VAE given the nearest note lands as the reference's does")):
        found = {k: _get(record, "pitch", model, "all", k) for k in ("median_semitones", "correlation")}
        out = _outside(found, bands[model])
        checks.append(Check(1, not out, what, f"{model}: " + "; ".join(out) + (
            " (the conditional VAE: does the decoder read the condition?)" if model == "CVAE" else " (note_path?).")))
    return checks


JUDGES = {"test_descriptors": judge_descriptors, "test_descriptor_distance": judge_descriptor_distance,
          "test_paths": judge_paths, "test_note_path": judge_note_path, "test_conditional_vae": judge_conditional_vae,
          "test_generation": judge_generation, "test_smoothness": judge_smoothness,
          "test_pitch": judge_pitch}


# --- bands: from reference runs on the course's notes, on the grading machine ----------------

def make_bands(records: dict, namespace: dict, speakers: dict) -> dict:
    """Bands from the reference notebook's records. The models train on the notes with one
    seed only in the notebook; a correct run elsewhere is another seed, so the bands are as wide
    as the spread over seeds measured by benchmarks/synth_study.py: descriptor distances 0.15
    (relative to the data's spread) or 25 %, path steps 90 % (they catch a path that is not
    smooth at all; a wrong descriptor, which moves them by up to 40 %, is judged by its own test
    and by part 2), pitch error 1.5 semitones and correlation 0.2. What every notebook computes
    on the same frames with the same code (the data's descriptors) gets 1 %, and the circle's
    radius over the one asked for is 1 by definition."""
    generation, smoothness, pitch = records["test_generation"], records["test_smoothness"], records["test_pitch"]
    bands = {}
    bands["test_generation"] = {
        "mean": {name: centred_band([row["mean"]], max(0.15, 0.25 * row["mean"]))
                 for name, row in generation["distances"].items()},
        # the same frames for every notebook: only rounding differs (flatness in dB: 0.1 dB)
        "data_median": {d: centred_band([v], max(0.1, 0.01 * abs(v))) for d, v in generation["data_median"].items()}}
    bands["test_smoothness"] = {
        "centroid": {name: centred_band([row["centroid"]], max(0.01, 0.9 * row["centroid"]))
                     for name, row in smoothness["smoothness"].items()},
        # the circle's radius over the one asked for: 1 by its definition, on any machine
        "circle_radius": [0.99, 1.01]}
    bands["test_pitch"] = {model: {
        "median_semitones": centred_band([pitch["pitch"][model]["all"]["median_semitones"]], 1.5),
        "correlation": centred_band([pitch["pitch"][model]["all"]["correlation"]], 0.2)} for model in pitch["pitch"]}
    return bands


def summary(results: dict) -> str:
    """The demo's printout of this lab's results.json."""
    lines = [f"  notes: {results['notes']['count']} ({results['notes']['source']}), {results['epochs']} epochs per model"]
    lines.append("  part 1: recon per eval frame, posterior mean decoded: " + ", ".join(
        f"{name} {score['recon']:.1f}" for name, score in results["models"].items() if "recon" in score))
    lines.append("  part 2: mean descriptor distance to the data (in data spreads): " + ", ".join(
        f"{name} {row['mean']:.3f}" for name, row in results["generation"].items()))
    lines.append("  part 3: centroid change per step: " + ", ".join(
        f"{name} {row['centroid']:.3f}" for name, row in results["smoothness"].items()))
    lines.append("  part 4: median pitch error (semitones), correlation of log f0: " + ", ".join(
        f"{name} {rows['all']['median_semitones']:.2f}, {rows['all']['correlation']:.2f}"
        for name, rows in results["pitch"].items()))
    lines.append(f"  notebook time: {results['seconds']:.0f} s")
    return "\n".join(lines)
