"""The lab's figures, one call each. Every function returns the matplotlib Figure and, given
`save=PATH`, also writes it as a PNG (atomically)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from vaelab_core import spec
from vaelab_core.atomic_files import atomic_path

TERM_TITLES = {"total": "negative ELBO (total)", "recon": "reconstruction", "kl": "KL regularisation"}


def _finish(fig: plt.Figure, save: str | Path | None) -> plt.Figure:
    fig.tight_layout()
    if save is not None:
        with atomic_path(save) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig


def _focus_after_first_epoch(ax: plt.Axes, curves: list[np.ndarray]) -> None:
    """Scale the y axis to epochs 2 onwards when epoch 1 (a random decoder) dwarfs the rest;
    the first point is then drawn off the top, and the title says so."""
    curves = [np.asarray(c, dtype=float).reshape(-1, np.shape(c)[-1]) for c in curves if np.size(c)]
    if not curves or curves[0].shape[-1] < 3:
        return
    later = np.concatenate([c[:, 1:].ravel() for c in curves])
    first = np.concatenate([c[:, 0].ravel() for c in curves])
    low, high = later.min(), later.max()
    if first.max() > high + 2 * (high - low):
        margin = 0.08 * (high - low or 1.0)
        ax.set_ylim(low - margin, high + margin)
        ax.set_title(ax.get_title() + "\n(epoch 1 above the top)", fontsize=9)


def plot_losses(history: dict, save: str | Path | None = None, title: str = "") -> plt.Figure:
    """The three loss terms (total, reconstruction, KL) per epoch, train and eval (handout 2.4.1)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, term in zip(axes, TERM_TITLES):
        for split, style in (("train", "-"), ("eval", "--")):
            values = history.get(split, {}).get(term, [])
            if len(values):
                ax.plot(np.arange(1, len(values) + 1), values, style, label=split)
        ax.set(title=TERM_TITLES[term], xlabel="epoch", ylabel="per frame (nats)")
        _focus_after_first_epoch(ax, [history.get(s, {}).get(term, []) for s in ("train", "eval")])
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def plot_seed_band(runs: dict, term: str = "total", save: str | Path | None = None) -> plt.Figure:
    """Mean +- one standard deviation over seeds of one loss term (handout 2.4.2).

    runs: the result of `training.train_seeds`, arrays of shape (seeds, epochs).
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for split, color in (("train", "C0"), ("eval", "C1")):
        values = np.asarray(runs[split][term])
        if values.size == 0:
            continue
        epochs = np.arange(1, values.shape[1] + 1)
        mean, std = values.mean(0), values.std(0)
        ax.plot(epochs, mean, color=color, label=f"{split} mean")
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.25, label=f"{split} ± 1 std")
    ax.set(title=f"{TERM_TITLES[term]} over {len(runs['seeds'])} seeds", xlabel="epoch",
           ylabel="per frame (nats)")
    _focus_after_first_epoch(ax, [runs[split][term] for split in ("train", "eval")])
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, save)


def plot_cross_table(table: dict[str, dict[str, float]], save: str | Path | None = None,
                     title: str = "loss of each model on each speaker's eval split") -> plt.Figure:
    """The cross-evaluation table[model][data] as an annotated heatmap (handout 2.5.4)."""
    models, datas = list(table), list(next(iter(table.values())))
    values = np.array([[table[m][d] for d in datas] for m in models])
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow(values, cmap="viridis_r")
    ax.set_xticks(range(len(datas)), [f"data {d}" for d in datas])
    ax.set_yticks(range(len(models)), [f"model {m}" for m in models])
    middle = (values.min() + values.max()) / 2
    for i in range(len(models)):
        for j in range(len(datas)):
            ax.text(j, i, f"{values[i, j]:.1f}", ha="center", va="center",
                    color="white" if values[i, j] > middle else "black")
    fig.colorbar(image, ax=ax, label="negative ELBO per frame (lower is better)")
    ax.set_title(title, fontsize=10)
    return _finish(fig, save)


def _db(magnitude: torch.Tensor) -> np.ndarray:
    return (20 * torch.log10(magnitude.clamp_min(1e-5))).numpy()


def plot_reconstruction(original: torch.Tensor, reconstructed: torch.Tensor,
                        save: str | Path | None = None, title: str = "") -> plt.Figure:
    """Original vs reconstructed magnitude spectrograms `(T, F)`, in dB."""
    original, reconstructed = original.detach().cpu(), reconstructed.detach().cpu()
    seconds = original.shape[0] * spec.HOP_LENGTH / spec.SAMPLE_RATE
    extent = (0, seconds, 0, spec.SAMPLE_RATE / 2000)
    top = float(_db(original).max())
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    for ax, mag, name in zip(axes, (original, reconstructed), ("original", "reconstructed")):
        image = ax.imshow(_db(mag).T, origin="lower", aspect="auto", extent=extent, cmap="magma",
                          vmin=top - 80, vmax=top)
        ax.set(title=name, xlabel="time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=axes, label="dB")
    if title:
        fig.suptitle(title)
    if save is not None:
        with atomic_path(save) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig
