"""The training engine students call: train, evaluate, five seeds, fine-tune, cross-evaluate.

Losses are the negative ELBO per frame (handout eq. (6), constants included): each epoch's
value is the average over all frames of that epoch. A history is a plain dict, so it goes
into checkpoints and `results.json` as it is:

    {"train": {"total": [...], "recon": [...], "kl": [...]},   # one value per epoch
     "eval":  {"total": [...], "recon": [...], "kl": [...]},
     "config": {...}, "steps_per_epoch": int, "threads": int, "seconds": float}

"threads" is the torch thread count the run trained on: the caller's, or one thread where the
run's first steps were clearly faster on one (`vaelab_core.threads`).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from vaelab_core.datasets import SpeakerDataset, frame_batches, sequence_batches, steps_per_epoch
from vaelab_core.errors import VaelabError
from vaelab_core.lanes import lanes, run_each
from vaelab_core.threads import ThreadChoice, as_measured

TERMS = ("total", "recon", "kl")


class TrainingError(VaelabError):
    """Training cannot go on (e.g. the loss became NaN), with the likely cause."""


@dataclass(frozen=True)
class TrainConfig:
    """How one training run goes: the one place for its settings and their defaults (the lab's).

    `train(model, data, epochs=5, seed=1)` is `train(model, data, TrainConfig(epochs=5, seed=1))`;
    a misspelt setting is an error, never silently dropped.
    """

    epochs: int = 30  # passes over the training split (handout 2.4.1: 30); the most, with patience
    lr: float = 1e-3  # Adam learning rate
    batch_size: int = 4  # sequences' worth of frames per step: 4 x 150 = 600 frames
    shuffle_frames: bool = True  # pool and shuffle frames across sequences (see frame_batches)
    seed: int = 0  # fixes shuffling and the posterior samples (and init, via new_model)
    device: str | None = None  # None: CUDA when present, else CPU
    progress: bool = True  # show a tqdm bar over epochs
    desc: str = "training"  # label of the progress bar
    patience: int | None = None  # stop after this many epochs without a better eval loss and
    #                              keep the best epoch's weights; None: run every epoch
    patience_after: int = 0  # epochs that early stopping ignores (a KL warm-up: the objective is
    #                          still changing, so its eval losses are not candidates for "best")


def pick_device(device: str | None = None) -> torch.device:
    """`device` if given, else CUDA when present, else CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def new_model(model_class: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """A freshly initialised model whose initial weights are fixed by `seed`."""
    torch.manual_seed(seed)
    return model_class()


def _split(data: SpeakerDataset | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(data, SpeakerDataset):
        return data.train, data.eval
    return data, None


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_finite(loss: torch.Tensor, where: str) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"the loss became {loss.item()} at {where}. Likely causes: get_loss divides by "
            "exp(eta) instead of multiplying by exp(-eta), or takes log() of a variance that "
            "reached 0; inference() returning the standard deviation as the log-variance; a "
            "learning rate too high for this data."
        )


def _configure(config: TrainConfig | None, settings: dict) -> TrainConfig:
    """`config` (default: the lab's) with `settings` replacing its fields; unknown names fail."""
    unknown = sorted(set(settings) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise TypeError(f"unknown training setting(s) {unknown}; TrainConfig has "
                        f"{[f.name for f in fields(TrainConfig)]}")
    return replace(config or TrainConfig(), **settings)


def bars_switched_off() -> bool:
    """Whether TQDM_DISABLE is set (the grader sets it in every kernel it starts). Read here because
    tqdm lets an explicit `disable` win over the variable, and in a notebook tqdm always passes one."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                config: TrainConfig, generator: torch.Generator, epoch: int,
                threads: ThreadChoice | None = None) -> dict[str, float]:
    """One pass over `x: (N, T, F)`; returns the per-frame average of each loss term.
    `threads`, if given, times the steps it needs to choose the run's thread count.

    A model with a method `on_train_step(progress)` has it called before every step, with the
    share of the run done so far (0 at the first step, below 1 at the last): schedules such as
    a KL warm-up read it. Evaluation never calls it.
    """
    model.train()
    device = _device_of(model)
    batches = frame_batches if config.shuffle_frames else sequence_batches
    sums = dict.fromkeys(TERMS, 0.0)
    frames = 0
    steps = steps_per_epoch(len(x), config.batch_size)
    schedule = getattr(model, "on_train_step", None)
    for step, batch in enumerate(batches(x, config.batch_size, shuffle=True, generator=generator)):
        batch = batch.to(device, non_blocking=True)
        if schedule is not None:  # e.g. a KL warm-up: told how far training is, in [0, 1)
            schedule((epoch + step / steps) / config.epochs)
        if threads is not None:
            threads.begin()
        loss, recon, kl = model.loss(batch)
        _check_finite(loss, f"epoch {epoch + 1}, step {step + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = batch.shape[0] * batch.shape[1]  # frames in this batch: B x T
        if threads is not None:
            threads.end(n)
        for term, value in zip(TERMS, (loss, recon, kl)):
            sums[term] += value.item() * n
        frames += n
    return {term: total / frames for term, total in sums.items()}


@torch.no_grad()
def evaluate(model: nn.Module, x: SpeakerDataset | torch.Tensor, batch_size: int = 64,
             seed: int = 0, choose_threads: bool = True) -> dict[str, float]:
    """Per-frame loss terms of `model` on `x: (N, T, F)` (a dataset means its eval split).

    The posterior sample of eq. (6) is drawn under `seed` without disturbing the caller's
    random state, so evaluating the same model twice gives the same numbers. With
    `choose_threads`, the thread count is chosen as `train` chooses it (`vaelab_core.threads`):
    over the first batches when there are enough, else as the latest choice here found; `train`
    evaluates on the count its run chose.
    """
    if isinstance(x, SpeakerDataset):
        x = x.eval
    if len(x) == 0:
        raise TrainingError("cannot evaluate on an empty split: the dataset has no sequences there "
                            "(vaelab data check FILE shows the counts).")
    model.eval()
    device = _device_of(model)
    sums = dict.fromkeys(TERMS, 0.0)
    frames = 0
    batches = math.ceil(len(x) / batch_size)
    threads = ThreadChoice(batches, announce=tqdm.write) if choose_threads else None
    too_few = threads is not None and threads.chosen is not None  # too few batches to time: no schedule
    on_count = as_measured() if too_few else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), on_count:
        torch.manual_seed(seed)
        try:
            for start in range(0, len(x), batch_size):
                batch = x[start:start + batch_size].to(device)
                if threads is not None:
                    threads.begin()
                loss, recon, kl = model.loss(batch)
                n = batch.shape[0] * batch.shape[1]
                if threads is not None:
                    threads.end(n)
                for term, value in zip(TERMS, (loss, recon, kl)):
                    sums[term] += float(value) * n
                frames += n
        finally:
            if threads is not None:
                threads.restore()
    return {term: total / frames for term, total in sums.items()}


def train(model: nn.Module, data: SpeakerDataset | torch.Tensor, config: TrainConfig | None = None,
          **settings) -> dict:
    """Train `model` in place with Adam and return its history (see the module docstring).

    data: a `SpeakerDataset` (trains on `.train`, evaluates on `.eval` after every epoch) or a
    tensor `(N, T, F)` of training sequences only. config: a `TrainConfig`; `settings` override
    its fields by name (`epochs=30, seed=0, ...`). `seed` fixes the batch order and the
    posterior samples; build the model with `new_model(cls, seed)` to fix its initial weights.
    With `patience`, training stops once the eval loss has not improved for that many epochs
    and keeps the weights of the best epoch (the history then has `best_epoch` and
    `best_eval_loss`).
    """
    config = _configure(config, settings)
    epochs, lr, seed, patience = config.epochs, config.lr, config.seed, config.patience
    train_x, eval_x = _split(data)
    if len(train_x) == 0:
        raise TrainingError("the training split is empty: check the dataset (vaelab data check FILE).")
    if patience is not None and (eval_x is None or len(eval_x) == 0):
        raise TrainingError("early stopping needs an eval split: pass a dataset whose eval part is "
                            "not empty (rebuild it with --eval-fraction > 0).")
    model.to(pick_device(config.device))
    # The fused kernel updates all parameters in one pass: on this small model it halves the
    # optimizer's share of a step on CPU, with the same arithmetic as the default Adam.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history = {"train": {t: [] for t in TERMS}, "eval": {t: [] for t in TERMS}}
    started = time.perf_counter()
    bar = tqdm(range(epochs), desc=config.desc, unit="epoch", disable=not config.progress or bars_switched_off())
    # torch's thread count or one thread, whichever its first steps ran faster on (vaelab_core.threads)
    threads = ThreadChoice(epochs * steps_per_epoch(len(train_x), config.batch_size), announce=tqdm.write)
    try:
        history = _epochs(model, optimizer, train_x, eval_x, config, generator, bar, threads, history)
    finally:
        threads.restore()
    history["config"] = asdict(config)
    history["steps_per_epoch"] = steps_per_epoch(len(train_x), config.batch_size)
    history["threads"] = threads.chosen or threads.given
    history["seconds"] = time.perf_counter() - started
    return history


def _epochs(model: nn.Module, optimizer: torch.optim.Optimizer, train_x: torch.Tensor, eval_x: torch.Tensor | None,
            config: TrainConfig, generator: torch.Generator, bar, threads: ThreadChoice, history: dict) -> dict:
    """`train`'s loop over epochs (evaluation, early stopping): `history` filled in."""
    epochs, seed, patience = config.epochs, config.seed, config.patience
    best_loss, best_epoch, best_state = math.inf, 0, None
    for epoch in bar:
        train_terms = train_epoch(model, optimizer, train_x, config, generator, epoch, threads)
        for term in TERMS:
            history["train"][term].append(train_terms[term])
        if eval_x is not None and len(eval_x):
            eval_terms = evaluate(model, eval_x, seed=seed, choose_threads=False)  # on the run's count
            _check_finite(torch.tensor(eval_terms["total"]), f"the evaluation after epoch {epoch + 1}")
            for term in TERMS:
                history["eval"][term].append(eval_terms[term])
            counted = epoch + 1 > config.patience_after or epoch + 1 == epochs
            if counted and eval_terms["total"] < best_loss:
                best_loss, best_epoch = eval_terms["total"], epoch + 1
                if patience is not None:
                    best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(train=f"{train_terms['total']:.1f}",
                        eval=f"{history['eval']['total'][-1]:.1f}" if history["eval"]["total"] else "-")
        if patience is not None and epoch + 1 - max(best_epoch, config.patience_after) >= patience:
            print(f"early stop after epoch {epoch + 1}: no better eval loss for {patience} epochs")
            break
    if patience is not None:
        model.load_state_dict(best_state)  # the best epoch's weights, not the last epoch's
        history["best_epoch"], history["best_eval_loss"] = best_epoch, best_loss
    return history


@dataclass
class Run:
    """One training run of `train_runs`: `train(model, data, **settings)`."""

    model: nn.Module
    data: SpeakerDataset | torch.Tensor
    settings: dict = field(default_factory=dict)  # TrainConfig's fields by name: epochs, seed, ...


def train_runs(runs: Mapping[Hashable, Run], desc: str = "runs") -> dict[Hashable, dict]:
    """`train(run.model, run.data, **run.settings)` for each run: {key: history}, every model
    trained in place, as `train` leaves it.

    The runs are independent, so where the machine allows (`vaelab_core.lanes`: Linux, CPU, more
    than one torch thread) they go side by side, one per core, each in a forked process whose
    trained weights and plain attributes (numbers, strings) come back to the model here; a last
    run that would go alone (five runs on two cores) runs here afterwards, on every thread. Each run
    seeds its own shuffling and sampling and its model is made before, so side by side changes
    only the threads a run has: on the 2-core VM the numbers were those of the runs one after
    the other to the bit (`benchmarks/bench_lanes.py` checks it where it runs); a machine whose
    arithmetic depends on the thread count may differ in the last digits. A history's "seconds"
    is then that run's own time beside the others. Either way the caller's random state is left
    as it was."""
    keys = list(runs)
    configs = [_configure(None, runs[key].settings) for key in keys]  # a misspelt setting fails here
    on_cpu = all(pick_device(config.device).type == "cpu" for config in configs)
    count = lanes(len(keys)) if on_cpu else 1
    with torch.random.fork_rng(devices=[]):
        if count <= 1:
            return {key: train(runs[key].model, runs[key].data, **runs[key].settings) for key in keys}
        show = any(config.progress for config in configs) and not bars_switched_off()
        with tqdm(total=len(keys), desc=f"{desc}, {count} side by side", unit="run", disable=not show) as bar:
            made = run_each(lambda key: _train_alone(runs[key]), keys, on_done=lambda _: bar.update())
    histories = {}
    for key, (history, state, attributes) in zip(keys, made):
        runs[key].model.load_state_dict(state)
        vars(runs[key].model).update(attributes)
        histories[key] = history
    return histories


def _train_alone(run: Run) -> tuple[dict, dict, dict]:
    """In a process of its own: the run trained, and what the model here needs of it."""
    history = train(run.model, run.data, **{**run.settings, "progress": False})
    attributes = {name: value for name, value in vars(run.model).items()
                  if not name.startswith("_") and name != "training" and isinstance(value, (bool, int, float, str))}
    return history, run.model.state_dict(), attributes


def train_seeds(model_class: Callable[[], nn.Module], data: SpeakerDataset | torch.Tensor,
                seeds: Iterable[int] = range(5), epochs: int = 30, first: dict | None = None,
                **train_kwargs) -> dict:
    """Train from scratch once per seed (side by side where the machine allows: `train_runs`);
    returns the histories stacked as arrays.

    Returns {"seeds": [...], "train": {term: (S, epochs) array}, "eval": {...}}. `first`, the
    history of an earlier run with the first seed and the same settings, is reused instead of
    training that seed again.
    """
    seeds = list(seeds)
    runs = {seed: Run(new_model(model_class, seed), data, {"epochs": epochs, "seed": seed, "desc": f"seed {seed}",
                                                           **train_kwargs})
            for i, seed in enumerate(seeds) if not (i == 0 and first is not None)}
    trained = train_runs(runs, desc="seeds")
    histories = [first if i == 0 and first is not None else trained[seed] for i, seed in enumerate(seeds)]
    stacked = {"seeds": seeds}
    for split in ("train", "eval"):
        stacked[split] = {t: np.array([h[split][t] for h in histories]) for t in TERMS}
    return stacked


def finetune(model: nn.Module, data: SpeakerDataset, epochs: int = 20, seed: int = 0,
             **train_kwargs) -> tuple[nn.Module, dict]:
    """Fine-tune a copy of `model` (e.g. the pre-trained one) on `data`; the original is kept.

    Returns (fine-tuned copy, its history).
    """
    tuned = copy.deepcopy(model)
    train_kwargs.setdefault("desc", "fine-tuning")
    history = train(tuned, data, epochs=epochs, seed=seed, **train_kwargs)
    return tuned, history


def finetune_each(model: nn.Module, datasets: Mapping[Hashable, SpeakerDataset], epochs: int = 20, seed: int = 0,
                  **train_kwargs) -> dict[Hashable, tuple[nn.Module, dict]]:
    """`finetune(model, data, ...)` for each dataset, side by side where the machine allows
    (`train_runs`): {name: (fine-tuned copy, its history)}; the original is kept."""
    runs = {name: Run(copy.deepcopy(model), data, {"epochs": epochs, "seed": seed, "desc": f"fine-tuning on {name}",
                                                   **train_kwargs})
            for name, data in datasets.items()}
    histories = train_runs(runs, desc="fine-tuning")
    return {name: (run.model, histories[name]) for name, run in runs.items()}


def cross_evaluate(models: dict[str, nn.Module], datasets: dict[str, SpeakerDataset],
                   seed: int = 0) -> dict[str, dict[str, float]]:
    """Total loss of every model on every dataset's eval split: table[model][data]."""
    return {m: {d: evaluate(model, data, seed=seed)["total"] for d, data in datasets.items()}
            for m, model in models.items()}
