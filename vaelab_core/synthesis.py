"""What the synthesizer lab provides around the students' functions: note frames and their
conditions, a conditional model's plumbing, decoding and rendering codes, and the lab's figures.

The lab (after the course's project on latent audio synthesis) trains lab 1's VAE and lab 2's
WAE on the frames of single instrument notes (vaelab_core.notes), compares what they generate
with audio descriptors, walks synthesis paths through a plane of the latent space, and gives a
conditional VAE (Sohn et al., 2015) the note's family and pitch. Nothing here is a student's
function: the notebook passes its own `descriptors`, paths and conditional model in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaelab_core import spec
from vaelab_core.audio import griffin_lim
from vaelab_core.notes import NOTE_FAMILIES, NoteSet, midi_to_hz

#: The descriptors the lab computes, in the order of its tables and figures.
DESCRIPTORS = ("centroid", "bandwidth", "flatness", "rolloff")

#: The pitch part of a condition: Gaussian bumps on the MIDI axis, PITCH_BUMPS of them from
#: PITCH_LOW to PITCH_HIGH, each PITCH_WIDTH semitones wide. A one-hot pitch would give an unseen
#: pitch nothing in common with its neighbours; a single number asks the decoder to turn one
#: input into harmonic positions that move nonlinearly with it. Bumps sit in between: each
#: pitch is a soft one-hot that overlaps its neighbours.
PITCH_LOW, PITCH_HIGH, PITCH_BUMPS, PITCH_WIDTH = 24, 108, 29, 3.0
#: Length of a condition vector: the family one-hot, then the pitch bumps.
CONDITION_DIM = len(NOTE_FAMILIES) + PITCH_BUMPS


def condition(family: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """The condition of notes `family: (N,)` (indices into NOTE_FAMILIES) at MIDI `pitch: (N,)`
    (any real value): (N, CONDITION_DIM) float32, the family one-hot then the pitch bumps."""
    family, pitch = torch.as_tensor(family).long(), torch.as_tensor(pitch, dtype=torch.float32)
    centres = torch.linspace(PITCH_LOW, PITCH_HIGH, PITCH_BUMPS)
    bumps = torch.exp(-0.5 * ((pitch[:, None] - centres) / PITCH_WIDTH) ** 2)
    return torch.cat([nn.functional.one_hot(family, len(NOTE_FAMILIES)).float(), bumps], dim=-1)


def with_condition(spectra: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
    """Each note's condition appended to every one of its frames: spectra (N, T, F) and
    conditions (N, C) -> (N, T, F + C). The training engine batches frames only; a conditional
    model's `loss` splits the two again (`Conditioned`)."""
    return torch.cat([spectra, conditions[:, None, :].expand(-1, spectra.shape[1], -1)], dim=-1)


class Conditioned:
    """The provided half of a conditional VAE: mix it in before the model class,
    `class ConditionalVAE(Conditioned, SpeechVAE)`, and write `build`, `inference(x, c)` and
    `generation_x(z, c)`. Batches carry the condition after the bins, (..., F + C), as
    `with_condition` makes them; `forward`, `loss` and `reconstruct` split them here."""

    condition_dim = CONDITION_DIM

    def split(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., F + C) -> x (..., F), c (..., C)."""
        return batch[..., :-self.condition_dim], batch[..., -self.condition_dim:]

    def forward(self, batch: torch.Tensor):
        x, c = self.split(batch)
        z, mean, logvar = self.inference(x, c)
        return self.generation_x(z, c), z, mean, logvar

    def loss(self, batch: torch.Tensor):
        """(loss, recon, kl) of frames with their conditions: the negative ELBO of x given c."""
        x, _ = self.split(batch)
        eta, _, mean, logvar = self(batch)
        return self.get_loss(x, eta, mean, logvar)

    @torch.no_grad()
    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        """Magnitudes of frames (..., F + C) decoded from their posterior means with their conditions."""
        x, c = self.split(batch)
        _, mean, _ = self.inference(x, c)
        return torch.exp(0.5 * self.generation_x(mean, c))

    @torch.no_grad()
    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Magnitudes exp(eta / 2) decoded from codes z (..., Z) under conditions c (..., C)."""
        return torch.exp(0.5 * self.generation_x(z, c))


# --- frames of notes ---------------------------------------------------------------------------

def sounding(notes: NoteSet, floor_db: float = -60.0) -> torch.Tensor:
    """(N, T) bool: the frames of each note whose energy is within `floor_db` of the note's
    loudest frame (the attack and the sustain, not the silence at the end of the release)."""
    energy = notes.spectra.pow(2).sum(-1)
    return 10 * torch.log10(energy / energy.amax(1, keepdim=True).clamp_min(1e-20)) > floor_db


def frames_of(notes: NoteSet, frames: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sounding frames of `notes` within `frames` (e.g. slice(4, 40) for the sustain), with
    each frame's labels: (M, F) magnitudes, (M,) family, (M,) pitch."""
    keep = sounding(notes)[:, frames]
    spectra = notes.spectra[:, frames]
    index = keep.nonzero(as_tuple=True)
    return spectra[index], notes.family[index[0]], notes.pitch[index[0]]


@torch.no_grad()
def posterior_means(model: nn.Module, frames: torch.Tensor, conditions: torch.Tensor | None = None,
                    batch: int = 4096) -> torch.Tensor:
    """The encoder's means of `frames: (M, F)` (with their `conditions: (M, C)` for a conditional
    model): (M, Z)."""
    model.eval()
    means = []
    for start in range(0, len(frames), batch):
        x = frames[start:start + batch]
        args = (x,) if conditions is None else (x, conditions[start:start + batch])
        means.append(model.inference(*args)[1])
    return torch.cat(means)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
    """Magnitudes exp(eta / 2) of codes `z: (..., Z)` (under `conditions` for a conditional model)."""
    model.eval()
    eta = model.generation_x(z) if conditions is None else model.generation_x(z, conditions)
    return torch.exp(0.5 * eta)


def in_plane(points: torch.Tensor, plane: tuple[int, int], origin: torch.Tensor) -> torch.Tensor:
    """Codes of a 2-D path: points (S, 2) placed in latent units `plane` = (i, j), every other
    unit taken from `origin: (Z,)`: (S, Z)."""
    points = torch.as_tensor(points, dtype=torch.float32)
    codes = origin.to(torch.float32).expand(len(points), -1).clone()
    codes[:, plane[0]], codes[:, plane[1]] = points[:, 0], points[:, 1]
    return codes


def render(magnitudes: torch.Tensor, hold: int = 4, n_iter: int = 32) -> torch.Tensor:
    """Audio of a path's decoded frames `(S, F)`: each frame held for `hold` hops (so that a
    64-step path lasts about 1 s) and the phase found by Griffin-Lim: (samples,) at 16 kHz."""
    held = magnitudes.repeat_interleave(hold, dim=0)
    wave = griffin_lim(held, n_iter=n_iter)
    return wave / wave.abs().max().clamp_min(1e-8) * 0.5


def strongest_units(codes: torch.Tensor, count: int = 2) -> tuple[int, ...]:
    """The `count` latent units whose posterior means vary most over `codes: (M, Z)`, largest first."""
    return tuple(int(i) for i in codes.var(0).argsort(descending=True)[:count])


def unit_correlations(codes: torch.Tensor, described: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pearson correlation of every latent unit's mean with every descriptor over the same
    frames: codes (M, Z), described {name: (M,)} -> (Z, D), rows units, columns DESCRIPTORS order."""
    z = codes.double().numpy()
    table = np.zeros((z.shape[1], len(DESCRIPTORS)))
    for d, name in enumerate(DESCRIPTORS):
        values = np.asarray(described[name], dtype=np.float64)
        for u in range(z.shape[1]):
            if z[:, u].std() > 0 and values.std() > 0:
                table[u, d] = np.corrcoef(z[:, u], values)[0, 1]
    return table


def relative_distances(distances: Mapping[str, float], data: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Each descriptor's distance divided by that descriptor's spread over the data (its standard
    deviation), so that Hz and unitless flatness can be read side by side; plus their "mean"."""
    relative = {name: float(distances[name]) / max(float(np.std(data[name])), 1e-12) for name in DESCRIPTORS}
    relative["mean"] = float(np.mean([relative[name] for name in DESCRIPTORS]))
    return relative


def jumpiness(values: np.ndarray, data: np.ndarray) -> float:
    """How smooth a descriptor is along a path: the mean absolute change from one step to the
    next, in units of the descriptor's standard deviation over the data (0: constant; about 1.1
    for independent draws from the data)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.abs(np.diff(values)).mean() / max(float(np.std(data)), 1e-12))


# --- pitch of generated notes ------------------------------------------------------------------

#: The pitch range in which the lab asks for notes and measures their f0 on decoded frames:
#: below ~90 Hz a 32 ms frame does not resolve the harmonics (voice_analysis), and above ~700 Hz
#: too few harmonics lie under the comb's 3 kHz limit.
MEASURED_PITCHES = (45, 76)  # MIDI: 110 Hz to 659 Hz


def measure_f0(magnitudes: torch.Tensor) -> np.ndarray:
    """f0 (Hz) of each decoded frame `(..., F)` by vaelab_core.voice_analysis's spectral comb,
    searched over the lab's measured range (a semitone of margin on each side)."""
    from vaelab_core.voice_analysis import estimate_f0

    low, high = (float(midi_to_hz(p)) for p in (MEASURED_PITCHES[0] - 1, MEASURED_PITCHES[1] + 1))
    return estimate_f0(magnitudes, fmin=low, fmax=high)


def pitch_control(requested: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """How well measured f0s (Hz) follow requested MIDI pitches: the median absolute error in
    semitones, the share of notes within half a semitone, and the correlation of log f0s."""
    requested_hz = np.asarray([float(midi_to_hz(p)) for p in np.asarray(requested).ravel()])
    measured = np.asarray(measured, dtype=np.float64).ravel()
    ok = np.isfinite(measured) & (measured > 0)
    semitones = 12 * np.abs(np.log2(measured[ok] / requested_hz[ok]))
    correlation = float(np.corrcoef(np.log(requested_hz[ok]), np.log(measured[ok]))[0, 1]) if ok.sum() > 2 else math.nan
    return {"median_semitones": float(np.median(semitones)) if ok.any() else math.nan,
            "within_half_semitone": float((semitones < 0.5).mean()) if ok.any() else 0.0,
            "correlation": correlation, "notes": int(ok.sum())}


def nearest_notes(notes: NoteSet, family: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """For each requested (family, pitch), the index of the training note of that family whose
    pitch is nearest (the loudest velocity on a tie): how an unconditional model is asked for a
    pitch, by encoding a note that has it."""
    chosen = []
    for f, p in zip(family.tolist(), pitch.tolist()):
        same = (notes.family == f).nonzero(as_tuple=True)[0]
        gap = (notes.pitch[same] - p).abs() * 1000 - notes.velocity[same]
        chosen.append(int(same[gap.argmin()]))
    return torch.tensor(chosen)


# --- figures -----------------------------------------------------------------------------------

def plot_latent(codes: torch.Tensor, family: torch.Tensor, pitch: torch.Tensor, plane: tuple[int, int],
                title: str = "", save: str | Path | None = None):
    """The codes `(M, Z)` in latent units `plane`, coloured by family (left) and by MIDI pitch (right)."""
    import matplotlib.pyplot as plt

    from vaelab_core.plots import _finish

    x, y = codes[:, plane[0]].numpy(), codes[:, plane[1]].numpy()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True, sharey=True)
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(NOTE_FAMILIES):
        mine = (family == index).numpy()
        axes[0].scatter(x[mine], y[mine], s=3, alpha=0.5, color=colours(index), label=name)
    axes[0].legend(markerscale=4, fontsize=8, loc="best")
    points = axes[1].scatter(x, y, s=3, alpha=0.5, c=pitch.numpy(), cmap="viridis")
    fig.colorbar(points, ax=axes[1], label="MIDI pitch")
    for ax, what in zip(axes, ("family", "pitch")):
        ax.set(xlabel=f"unit {plane[0]}", ylabel=f"unit {plane[1]}", title=f"{title} by {what}".strip())
    fig.tight_layout()
    return _finish(fig, save)


def plot_correlations(table: np.ndarray, title: str = "", save: str | Path | None = None):
    """`unit_correlations` as a heat map: latent units down, descriptors across."""
    import matplotlib.pyplot as plt

    from vaelab_core.plots import _finish

    fig, ax = plt.subplots(figsize=(4.6, 5.2))
    image = ax.imshow(table, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set(xticks=range(len(DESCRIPTORS)), xticklabels=DESCRIPTORS, yticks=range(table.shape[0]),
           ylabel="latent unit", title=title or "correlation of unit means with descriptors")
    for (u, d), value in np.ndenumerate(table):
        if abs(value) >= 0.5:
            ax.text(d, u, f"{value:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return _finish(fig, save)


def plot_paths(paths: Mapping[str, torch.Tensor], described: Mapping[str, Mapping[str, np.ndarray]],
               save: str | Path | None = None):
    """Each path's decoded spectrogram (top row, dB) and its descriptors along the path (one
    row per descriptor): paths {name: (S, F) magnitudes}, described {name: {descriptor: (S,)}}."""
    import matplotlib.pyplot as plt

    from vaelab_core.plots import _db, _finish

    names = list(paths)
    fig, axes = plt.subplots(1 + len(DESCRIPTORS), len(names), figsize=(2.8 * len(names), 9),
                             squeeze=False, sharex="col")
    for column, name in enumerate(names):
        db = _db(paths[name])
        axes[0, column].imshow(db.T, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80,
                               extent=(0, len(db), 0, spec.SAMPLE_RATE / 2000))
        axes[0, column].set_title(name)
        for row, descriptor in enumerate(DESCRIPTORS, start=1):
            axes[row, column].plot(np.asarray(described[name][descriptor]))
            if column == 0:
                axes[row, column].set_ylabel(descriptor)
        axes[-1, column].set_xlabel("step")
    axes[0, 0].set_ylabel("kHz")
    fig.tight_layout()
    return _finish(fig, save)


def show_paths(paths: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Audio players, one per decoded path `(S, F)` (rendered by `render`); returns the waves."""
    from IPython.display import HTML, Audio, display

    waves = {name: render(magnitudes) for name, magnitudes in paths.items()}
    for name, wave in waves.items():
        display(HTML(f"<b>{name}</b>"), Audio(wave.numpy(), rate=spec.SAMPLE_RATE, normalize=False))
    return waves


def describe_all(descriptors: Callable, sets: Mapping[str, torch.Tensor]) -> dict[str, dict[str, np.ndarray]]:
    """The notebook's `descriptors` of every set of frames {name: (M, F)}, ready to compare:
    flatness in dB (10 log10), where a tone (-60 dB and below) and noise (near 0 dB) lie far
    apart; as a plain ratio, its distribution is a spike near 0 with a long tail, and the
    distances between two sets would measure the tail only."""
    described = {}
    for name, frames in sets.items():
        values = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in descriptors(frames).items()}
        if "flatness" in values:
            values["flatness"] = 10 * np.log10(np.maximum(values["flatness"], 1e-12))
        described[name] = values
    return described
