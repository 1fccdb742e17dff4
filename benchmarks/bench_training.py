"""Benchmark the training engine against this machine's matrix-multiply rate.

    python benchmarks/bench_training.py [--epochs N] [--threads N[,N...]] [--notebook]

Prints, in one run:
  - the model's FLOPs per frame for one training step: forward + backward ~ 3 x 2 x MACs, the
    MACs counted from the Linear layers of the reference model (element-wise work not counted);
  - for each thread count (default: 1 and torch's default, the notebooks' own):
    - the float32 matmul rate of torch (best of several), for a large square product and for
      the shape of the model's first layer on one 600-frame batch;
    - the training rate of `vaelab_core.training.train` in frames/s on random data shaped like
      the default data (65 train sequences of 150 x 257, the lab's batch size), after a warm-up
      epoch, best of three runs;
    - the achieved GFLOP/s and its share of that thread count's matmul rate (goal: at least
      60 % with the thread count the notebooks use);
    - where a step of one 600-frame batch goes, each part timed on its own: the model's matrix
      products alone (the same shapes, back to back: what the step would cost if every
      element-wise operation were free), the model's forward and backward pass (autograd and
      the handout's tanh, exp and loss included), Adam's update, and the rest of `train`
      (batching, bookkeeping), with the share of the matmul rate each ceiling allows;
  - which thread count trained fastest here: the measurement behind a choice of threads on
    this machine (the training gives the same numbers with either on the 2-core VM);
  - with more than one thread by default, as many runs side by side, one thread each
    (`training.train_runs`, as lab 1's seeds and fine-tunings and latent_space's beta settings
    go): their frames/s together, and the share of the matmul rate on all threads;
  - with --notebook, the wall time of the solution notebook executed headless (as `vaelab demo`
    does; builds the built-in Speaker A and B sets first if they are missing).

The figures are only meaningful on an otherwise idle machine: the load average is printed so
that a busy machine shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from grader.assignment import assignment, default_solutions, load_reference
from vaelab_core import spec
from vaelab_core.lanes import LANES_ENV
from vaelab_core.threads import THREADS_ENV
from vaelab_core.training import Run, TrainConfig, new_model, train, train_runs

GOAL = 0.60  # share of the matmul rate the training loop should reach with the notebooks' threads
TRAIN_SEQUENCES = 65  # the default data: Speaker A + B train splits
MATMUL_SHAPES = {  # name: (m, k, n) for an (m, k) @ (k, n) product
    "1024 x 1024 x 1024": (1024, 1024, 1024),
    "600 x 257 x 256 (first layer, one batch)": (TrainConfig.batch_size * spec.N_FRAMES, spec.N_FREQ,
                                                 spec.ENCODER_HIDDEN[0]),
}


def matmul_gflops(m: int, k: int, n: int, repeats: int = 7, min_seconds: float = 0.05) -> float:
    """Best-of-`repeats` float32 GFLOP/s of `(m, k) @ (k, n)` (2 m k n FLOPs per product)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(m, k, generator=g), torch.rand(k, n, generator=g)
    out = torch.empty(m, n)
    torch.mm(a, b, out=out)  # warm-up
    calls = 1
    while True:  # enough calls per timing to last min_seconds
        started = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        if time.perf_counter() - started >= min_seconds:
            break
        calls *= 2
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter() - started) / calls)
    return 2 * m * k * n / best / 1e9


def linear_macs(model: nn.Module) -> int:
    """Multiply-accumulates per frame of one forward pass: sum of in x out over Linear layers.

    Every Linear layer of the reference runs once per frame in `model.loss` (encoder, both
    posterior heads, decoder).
    """
    return sum(layer.in_features * layer.out_features for layer in model.modules()
               if isinstance(layer, nn.Linear))


def training_rate(model_class: type[nn.Module], epochs: int, repeats: int = 3) -> tuple[float, float]:
    """(frames/s, seconds) of the fastest of `repeats` calls of `train` over `epochs` on random
    default-shaped data, after a warm-up (best of several, as for the matmul rate)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(TRAIN_SEQUENCES, spec.N_FRAMES, spec.N_FREQ, generator=g) * 2  # (65, 150, 257)
    model = new_model(model_class, 0)
    train(model, x, epochs=1, progress=False)  # warm-up: allocator, kernels, Adam state
    seconds = min(train(model, x, epochs=epochs, seed=1 + r, progress=False)["seconds"]
                  for r in range(repeats))
    return epochs * TRAIN_SEQUENCES * spec.N_FRAMES / seconds, seconds


def step_parts(model_class: type[nn.Module], repeats: int = 3, steps: int = 60) -> dict[str, float]:
    """Milliseconds of one training step on one lab batch (batch_size x T frames), by part, each
    the best of `repeats` timings of `steps` steps after a warm-up:

    - "products": the matrix products of the step alone, on the Linear layers' shapes: forward
      (addmm), and backward the weight gradient and the input gradient (none for the first
      layer, whose input is the data);
    - "model": `model.loss` forward and backward, gradients dropped after each step (no optimizer);
    - "adam": the same with the lab's optimizer (fused Adam) stepping, minus "model".
    """
    frames = TrainConfig.batch_size * spec.N_FRAMES
    g = torch.Generator().manual_seed(0)
    batch = torch.rand(TrainConfig.batch_size, spec.N_FRAMES, spec.N_FREQ, generator=g) * 2
    model = new_model(model_class, 0)
    layers = [layer for layer in model.modules() if isinstance(layer, nn.Linear)]
    products = []
    for i, layer in enumerate(layers):
        n_in, n_out = layer.in_features, layer.out_features
        x, w, b = torch.rand(frames, n_in), torch.rand(n_out, n_in), torch.rand(n_out)
        upstream = torch.rand(frames, n_out)
        products.append(lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()))  # forward
        products.append(lambda x=x, u=upstream: torch.mm(u.t(), x))  # weight gradient
        if i > 0:  # the first layer's input is the data: no gradient flows into it
            products.append(lambda w=w, u=upstream: torch.mm(u, w))
    optimizer = torch.optim.Adam(model.parameters(), lr=TrainConfig.lr, fused=True)

    def model_step() -> None:
        model.loss(batch)[0].backward()
        model.zero_grad(set_to_none=True)

    def adam_step() -> None:
        model.loss(batch)[0].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def best_ms(step: Callable[[], None]) -> float:
        for _ in range(5):  # warm-up
            step()
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(steps):
                step()
            best = min(best, (time.perf_counter() - started) / steps)
        return best * 1e3

    with_adam = best_ms(adam_step)
    parts = {"products": best_ms(lambda: [product() for product in products]), "model": best_ms(model_step)}
    parts["adam"] = max(with_adam - parts["model"], 0.0)
    return parts


def side_by_side_rate(model_class: type[nn.Module], epochs: int, runs: int, repeats: int = 2) -> tuple[float, float]:
    """(frames/s of all runs together, seconds) of `runs` trainings side by side (`train_runs`,
    one forked process and one thread each), each over `epochs` on the random data of
    `training_rate`: the fastest of `repeats`, after a warm-up. The time includes starting the
    processes and sending the weights back, as a notebook pays them."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(TRAIN_SEQUENCES, spec.N_FRAMES, spec.N_FREQ, generator=g) * 2  # (65, 150, 257)

    def once(epochs: int) -> float:
        jobs = {r: Run(new_model(model_class, r), x, {"epochs": epochs, "seed": r, "progress": False})
                for r in range(runs)}
        started = time.perf_counter()
        train_runs(jobs)
        return time.perf_counter() - started

    before = os.environ.get(LANES_ENV)
    os.environ[LANES_ENV] = str(runs)
    try:
        once(1)  # warm-up
        seconds = min(once(epochs) for _ in range(repeats))
    finally:
        if before is None:
            os.environ.pop(LANES_ENV)
        else:
            os.environ[LANES_ENV] = before
    return runs * epochs * TRAIN_SEQUENCES * spec.N_FRAMES / seconds, seconds


def notebook_seconds() -> float:
    """Wall time of the solution notebook executed headless on the built-in speakers."""
    from data_prep.defaults import main as build_defaults
    from grader.engine.environment import kernel_environment
    from grader.engine.execute import execute_notebook

    speaker_a, speaker_b = build_defaults()
    source = assignment(default_solutions()).notebook_path
    with tempfile.TemporaryDirectory(prefix="vaelab-bench-") as tmp:
        env = kernel_environment({"VAELAB_SPEAKER_A": str(Path(speaker_a).resolve()),
                                  "VAELAB_SPEAKER_B": str(Path(speaker_b).resolve())}, Path(tmp))
        started = time.perf_counter()
        execute_notebook(source, Path(tmp), env, timeout=3600)
        return time.perf_counter() - started


def thread_counts(text: str | None) -> list[int]:
    """--threads "1,2" -> [1, 2]; default: 1 and torch's default thread count (the notebooks')."""
    if text is None:
        return sorted({1, torch.get_num_threads()})
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise SystemExit(f"--threads takes thread counts of at least 1, separated by commas (got {text!r})")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="timed epochs (default 10)")
    parser.add_argument("--threads", default=None,
                        help="torch thread counts to measure, e.g. 1,2 (default: 1 and torch's default)")
    parser.add_argument("--notebook", action="store_true", help="also time the solution notebook")
    args = parser.parse_args(argv)
    # Each count is timed as given: train() would otherwise move a run to one thread where its
    # first steps run faster on one (vaelab_core.threads).
    os.environ[THREADS_ENV] = "fixed"
    default_threads = torch.get_num_threads()
    counts = thread_counts(args.threads)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine          {os.cpu_count()} cores, load average {load}; torch {torch.__version__}, "
          f"{default_threads} threads by default (the notebooks')")

    model_class = load_reference(default_solutions())
    macs = linear_macs(model_class())
    flops = 3 * 2 * macs
    print(f"model            {macs:,} MACs per frame forward; {flops / 1e6:.2f} MFLOP per frame per "
          "training step (3 x 2 x MACs)")

    measured = {}
    for count in counts:
        torch.set_num_threads(count)
        print(f"--- {count} thread(s){' (the notebooks)' if count == default_threads else ''}")
        rates = {}
        for name, shape in MATMUL_SHAPES.items():
            rates[name] = matmul_gflops(*shape)
            print(f"matmul float32   {name}: {rates[name]:.1f} GFLOP/s")
        peak = max(rates.values())
        frames_per_second, seconds = training_rate(model_class, args.epochs)
        measured[count] = frames_per_second
        achieved = frames_per_second * flops / 1e9
        share = achieved / peak
        print(f"training         {frames_per_second:,.0f} frames/s (best of 3 x {args.epochs} epochs of "
              f"{TRAIN_SEQUENCES} x {spec.N_FRAMES} frames, batch_size {TrainConfig.batch_size}, "
              f"{seconds:.2f} s); one 30-epoch run ~ {30 * TRAIN_SEQUENCES * spec.N_FRAMES / frames_per_second:.1f} s")
        shares = ", ".join(f"{achieved / rate:.0%} of {name.split(' (')[0]}" for name, rate in rates.items())
        print(f"achieved         {achieved:.1f} GFLOP/s = {share:.0%} of the best matmul rate ({shares}); "
              f"goal >= {GOAL:.0%}: {'met' if share >= GOAL else 'NOT met'}")
        frames = TrainConfig.batch_size * spec.N_FRAMES
        step_ms = frames / frames_per_second * 1e3
        parts = step_parts(model_class)
        ceiling = {name: frames * flops / 1e9 / (ms / 1e3) / peak for name, ms in
                   (("products", parts["products"]), ("model", parts["model"]),
                    ("adam", parts["model"] + parts["adam"]))}
        rest = step_ms - parts["model"] - parts["adam"]
        print(f"one step         {step_ms:.2f} ms for {frames} frames in train(): the model's matrix products "
              f"alone {parts['products']:.2f} ms (at most {ceiling['products']:.0%} if nothing else cost "
              f"anything), the model's forward + backward {parts['model']:.2f} ms (at most "
              f"{ceiling['model']:.0%} for any loop around it), Adam {parts['adam']:.2f} ms (at most "
              f"{ceiling['adam']:.0%} with it), the rest of train() {rest:.2f} ms")
    if len(measured) > 1:
        fastest = max(measured, key=measured.get)
        others = ", ".join(f"{measured[c]:,.0f} with {c}" for c in measured if c != fastest)
        print(f"fastest here     {fastest} thread(s): {measured[fastest]:,.0f} frames/s ({others})")
    torch.set_num_threads(default_threads)
    if default_threads > 1:
        peak = max(matmul_gflops(*shape) for shape in MATMUL_SHAPES.values())
        frames_per_second, seconds = side_by_side_rate(model_class, args.epochs, default_threads)
        achieved = frames_per_second * flops / 1e9
        print(f"side by side     {default_threads} runs at once, one thread each (train_runs): "
              f"{frames_per_second:,.0f} frames/s together ({seconds:.2f} s for {args.epochs} epochs each); "
              f"{achieved:.1f} GFLOP/s = {achieved / peak:.0%} of the {default_threads}-thread matmul rate "
              f"({peak:.1f} GFLOP/s); goal >= {GOAL:.0%}: {'met' if achieved / peak >= GOAL else 'NOT met'}")

    if args.notebook:
        print(f"notebook         {notebook_seconds():.1f} s wall time, executed headless "
              f"(the kernel uses torch's default, {default_threads} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
