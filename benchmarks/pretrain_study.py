"""Which pre-training recipe gives a model that uses its latent space? Prints one table.

    python benchmarks/pretrain_study.py [--speech ../shared/speech] [--work DIR] [--jobs 2]
                                        [--recipes NAME ...] [--checkpoint LABEL=FILE ...]

Each recipe is `vaelab pretrain` on one utterance of each of the 251 train-clean-100 readers
(52 minutes), with or without a KL warm-up, free bits, hours of the kit's synthetic speech
(`vaelab data synth`), or the 64 minutes of other real read speech in ../shared/speech/extra
(recipes "... + real x2": about 116 minutes of real speech in all). Every model is measured on what it will be used for:

- on held-out real readers (the eight test-other readers, never trained on): the negative ELBO
  per frame, the KL of each latent unit and the variance of its posterior mean; a unit is active
  when both its KL > 0.1 nat and its mean's variance > 0.01;
- in lab 2, part 1, run with the reference solution's own cells on the built-in sweeps: M per
  factor, the largest |dot product| between two factors' subspaces, and the f0 and F1 moves
  (median relative error and correlation with the targets, f0 measured on the decoded spectrum).

Checkpoints are written to WORK/<recipe>-s<seed>.pt and reused when present, so the study can
be stopped and resumed; `--jobs 2` trains two models side by side, one torch thread each (on
2 cores that beats one model on two threads). `--checkpoint LABEL=FILE` measures a checkpoint
made elsewhere (the shipped one is always measured). Needs ../shared/speech.

The shipped checkpoint is "warm-up 20 + free bits 0.5", seed 0 (README, "Data and the pre-trained
model"); the one shipped before it was "today", seed 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import torch  # noqa: E402

from grader.assignment import default_solutions, load_reference  # noqa: E402
from vaelab_core.checkpoints import load_pretrained, pretrained_path  # noqa: E402
from vaelab_core.datasets import load_dataset  # noqa: E402
from vaelab_core.latent_usage import active_units, kl_per_unit, mean_variance  # noqa: E402
from vaelab_core.training import evaluate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VAELAB = Path(sys.executable).with_name("vaelab")


@dataclass(frozen=True)
class Recipe:
    """One way of pre-training: `vaelab pretrain` options, and which extra corpus joins training."""

    options: dict = field(default_factory=dict)  # --warmup-epochs, --free-bits, ...
    extra: str | None = None  # a corpus of prepare_data() whose sequences join training: "synth" or "extra"
    seeds: tuple[int, ...] = (0,)


RECIPES = {
    "today": Recipe(seeds=(0, 1, 2)),  # lab 1's recipe: no warm-up, no free bits
    "warm-up 20 + free bits 0.5": Recipe({"--warmup-epochs": 20, "--free-bits": 0.5}),
    "warm-up 20 + free bits 0.5 + synthetic": Recipe({"--warmup-epochs": 20, "--free-bits": 0.5}, extra="synth"),
    "warm-up 20 + free bits 1 + synthetic": Recipe({"--warmup-epochs": 20, "--free-bits": 1.0}, extra="synth"),
    # twice the real speech: ../shared/speech/extra (MS-SNSD's clean speech and LibriVox readers, 64 min)
    "today + real x2": Recipe(extra="extra", seeds=(0, 1, 2)),
    "warm-up 20 + free bits 0.5 + real x2": Recipe({"--warmup-epochs": 20, "--free-bits": 0.5}, extra="extra",
                                                   seeds=(0, 1, 2)),
}

#: The synthetic speech of the recipes that use it: voices x minutes each.
SYNTH_VOICES, SYNTH_MINUTES = 60, 2.0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _run(command: list[str], log: Path) -> None:
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed; see {log}")


def prepare_data(speech: Path, work: Path, needed: set[str]) -> dict[str, Path]:
    """The pre-training corpus, the held-out readers and the `needed` extra corpora (each built once)."""
    libri = speech / "librispeech"
    wanted = {"corpus": (["data", "build", "--corpus", libri / "train-clean-100"], work / "librispeech251.npz"),
              "heldout": (["data", "build", "--corpus", libri / "test-other"], work / "heldout_testother.npz"),
              "synth": (["data", "build", "--corpus", work / "synth"], work / "synth.npz"),
              "extra": (["data", "build", "--corpus", speech / "extra"], work / "real_extra.npz")}
    for name, (args, out) in wanted.items():
        if out.is_file() or name not in {"corpus", "heldout", *needed}:
            continue
        if name == "synth" and not (work / "synth").is_dir():
            _run([str(VAELAB), "data", "synth", "--out", str(work / "synth"), "--count", str(SYNTH_VOICES),
                  "--minutes", str(SYNTH_MINUTES)], work / "synth_audio.log")
        _run([str(VAELAB), *map(str, args), "--out", str(out)], work / f"{name}.log")
    return {name: out for name, (_, out) in wanted.items()}


def train_recipes(recipes: dict[str, Recipe], data: dict[str, Path], work: Path, jobs: int) -> dict[str, Path]:
    """{"<recipe> s<seed>": checkpoint}, training the missing ones `jobs` at a time."""
    runs = {}
    for name, recipe in recipes.items():
        for seed in recipe.seeds:
            out = work / f"{_slug(name)}-s{seed}.pt"
            command = [str(VAELAB), "pretrain", "--corpus", str(data["corpus"]), "--out", str(out),
                       "--seed", str(seed), "--threads", "1"]
            for option, value in recipe.options.items():
                command += [option, str(value)]
            if recipe.extra:
                command += ["--extra-corpus", str(data[recipe.extra])]
            runs[f"{name} s{seed}"] = (out, command)
    missing = [(out, command) for out, command in runs.values() if not out.is_file()]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda run: _run(run[1], run[0].with_suffix(".log")), missing))
    if missing:
        print(f"trained {len(missing)} model(s) in {time.perf_counter() - started:.0f} s, {jobs} at a time")
    return {label: out for label, (out, _) in runs.items()}


def latent_usage(model: torch.nn.Module, frames: torch.Tensor) -> dict:
    """KL per unit (nats per frame), variance of each unit's posterior mean, active units, on frames (N, F)."""
    kl = kl_per_unit(model, frames)
    return {"kl_per_unit": kl.tolist(), "mean_variance": mean_variance(model, frames).tolist(),
            "active": active_units(model, frames), "kl": float(kl.sum())}


def lab2_part1(checkpoint: Path, solutions: Path) -> dict:
    """Lab 2's part-1 figures for `checkpoint`, computed by the reference notebook's own cells."""
    notebook = nbformat.read(solutions / "latent_space" / "latent_space.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in notebook.cells if c.cell_type == "code"}
    wanted = ["imports", "model", "latent_subspace", "subspace_alignment", "fit_factor_path", "move_factor",
              "config", "subspaces", "alignment", "moves"]
    namespace: dict = {"__name__": "lab2"}
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        os.environ["VAELAB_OUT"] = out
        for grade_id in wanted:
            exec(compile(cells[grade_id], f"<latent_space:{grade_id}>", "exec"), namespace)  # noqa: S102
            if grade_id == "config":  # the model under study replaces the shipped one
                namespace["vae"] = load_pretrained(namespace["SpeechVAE"](), checkpoint).eval()
        matplotlib.pyplot.close("all")
    subspaces, alignment, moves = namespace["subspaces"], namespace["alignment"], namespace["moves"]
    largest = max(float(a.abs().max()) for a in alignment.values())
    return {"M": {f: int(s["M"]) for f, s in subspaces.items()}, "largest_alignment": largest,
            "moves": {f: {k: moves[f][k] for k in ("error", "correlation", "baseline")} for f in moves}}


def measure(label: str, checkpoint: Path, reference: type, heldout, solutions: Path) -> dict:
    model = load_pretrained(reference(), checkpoint).eval()
    frames = torch.cat([heldout.train, heldout.eval]).reshape(-1, heldout.train.shape[-1])
    saved = torch.load(checkpoint, weights_only=True)
    result = {"label": label, "checkpoint": str(checkpoint),
              "heldout_loss": evaluate(model, torch.cat([heldout.train, heldout.eval]))["total"],
              "epochs": saved["provenance"].get("epochs_run"), "seconds": saved["provenance"].get("seconds"),
              **latent_usage(model, frames), "lab2": lab2_part1(checkpoint, solutions)}
    return result


def table(results: list[dict]) -> str:
    head = (f"{'model':<44} {'held-out':>9} {'KL':>5} {'active':>6} {'M f0,F1,F2,F3':>14} {'max|dot|':>8} "
            f"{'f0 err':>7} {'f0 corr':>7} {'f0 floor':>8} {'F1 err':>7} {'F1 corr':>7} {'epochs':>6} {'min':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        lab2 = r["lab2"]
        m = ",".join(str(lab2["M"][f]) for f in ("f0", "f1", "f2", "f3"))
        lines.append(f"{r['label']:<44} {r['heldout_loss']:>9.1f} {r['kl']:>5.1f} {r['active']:>3d}/16 {m:>14} "
                     f"{lab2['largest_alignment']:>8.2f} {lab2['moves']['f0']['error']:>7.1%} "
                     f"{lab2['moves']['f0']['correlation']:>7.2f} {lab2['moves']['f0']['baseline']:>8.1%} "
                     f"{lab2['moves']['f1']['error']:>7.1%} "
                     f"{lab2['moves']['f1']['correlation']:>7.2f} {r['epochs'] or 0:>6} "
                     f"{(r['seconds'] or 0) / 60:>5.1f}")
    lines.append("")
    lines.append("KL per unit (nats per frame, held-out readers), largest first:")
    for r in results:
        units = sorted(r["kl_per_unit"], reverse=True)
        lines.append(f"  {r['label']:<44} " + " ".join(f"{u:.1f}" for u in units))
    return "\n".join(lines)


def main(speech: Path, work: Path, jobs: int, recipes: list[str] | None, extra: list[str]) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // jobs))
    work.mkdir(parents=True, exist_ok=True)
    solutions = default_solutions()
    reference = load_reference(solutions)
    chosen = {name: RECIPES[name] for name in (recipes or RECIPES)}
    data = prepare_data(speech, work, {recipe.extra for recipe in chosen.values() if recipe.extra})
    checkpoints = train_recipes(chosen, data, work, jobs)
    checkpoints["shipped"] = pretrained_path()
    for item in extra:
        label, _, path = item.partition("=")
        checkpoints[label] = Path(path)
    heldout = load_dataset(data["heldout"])
    results = [measure(label, path, reference, heldout, solutions) for label, path in checkpoints.items()]
    (work / "study.json").write_text(json.dumps(results, indent=1))
    print(f"held-out: {len(heldout.train) + len(heldout.eval)} sequences of 8 test-other readers; "
          f"lab 2 on the built-in sweeps; torch {torch.__version__}, {os.cpu_count()} cores")
    print(table(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, default=REPO.parent / "shared" / "speech")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vaelab_pretrain_study")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--recipes", nargs="*", choices=sorted(RECIPES))
    parser.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=FILE")
    args = parser.parse_args()
    main(args.speech, args.work, args.jobs, args.recipes, args.checkpoint)
