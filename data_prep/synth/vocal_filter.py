"""The filter: the vocal tract as four formant resonators in cascade, re-tuned as it moves.

Four cascaded second-order resonators (Klatt 1980) at the formant frequencies, which move
smoothly between vowel targets (`plan`). The tract is re-tuned every CONTROL_HOP samples: the
excitation is cut into overlapping windowed blocks, each block is filtered with the resonators
of its moment (all blocks in one batched torchaudio call), and the results are overlap-added.
"""

from __future__ import annotations

import numpy as np
import torch

from data_prep.synth.plan import CONTROL_HOP
from vaelab_core import spec
from vaelab_core.installation import load_torchaudio

torchaudio = load_torchaudio()

SR = spec.SAMPLE_RATE

#: Samples kept after each filtered block for the resonators' ringing: with the narrowest
#: bandwidth (50 Hz) a resonance decays by 60 dB in 6.9 / (pi * 50 Hz) = 44 ms = 703 samples.
FILTER_TAIL = 768


def resonator_coefficients(freq_hz: torch.Tensor, bandwidth_hz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Second-order resonator of Klatt (1980): y[n] = A x[n] + B y[n-1] + C y[n-2].

    C = -exp(-2 pi BW / fs), B = 2 exp(-pi BW / fs) cos(2 pi F / fs), A = 1 - B - C (unit gain at
    0 Hz, so a cascade gives the natural relative formant levels). Returns torchaudio's
    `(a, b)`, each `(..., 3)`: a = [1, -B, -C], b = [A, 0, 0].
    """
    c = -torch.exp(-2 * torch.pi * bandwidth_hz / SR)
    b = 2 * torch.exp(-torch.pi * bandwidth_hz / SR) * torch.cos(2 * torch.pi * freq_hz / SR)
    gain = 1 - b - c
    zeros = torch.zeros_like(gain)
    return torch.stack([torch.ones_like(b), -b, -c], dim=-1), torch.stack([gain, zeros, zeros], dim=-1)


def vocal_tract_filter(excitation: np.ndarray, formants_hz: np.ndarray, bandwidths_hz: tuple[float, ...]) -> np.ndarray:
    """Pass `excitation: (samples,)` through a cascade of formant resonators that moves in time.

    `formants_hz: (steps, 4)` gives the formants at samples 0, CONTROL_HOP, 2 CONTROL_HOP ...
    Block k is the excitation around sample k * CONTROL_HOP under a Hann window of 2 CONTROL_HOP
    (consecutive windows add up to one); it is filtered with the formants of step k, rings on
    for FILTER_TAIL samples, and is added back in place (overlap-add).
    """
    n, hop = excitation.size, CONTROL_HOP
    blocks_n = formants_hz.shape[0]  # one block per control step, covering [k hop - hop, k hop + hop)
    padded = np.pad(excitation, (hop, blocks_n * hop + hop - n))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop))  # periodic Hann
    blocks = np.lib.stride_tricks.sliding_window_view(padded, 2 * hop)[::hop][:blocks_n] * window
    blocks = torch.from_numpy(np.pad(blocks, ((0, 0), (0, FILTER_TAIL)))).to(torch.float32)  # (blocks, length)

    freqs = torch.from_numpy(formants_hz).to(torch.float32)
    bandwidths = torch.tensor(bandwidths_hz, dtype=torch.float32).expand_as(freqs)
    a, b = resonator_coefficients(freqs, bandwidths)  # (blocks, 4, 3)
    for formant in range(4):  # the cascade, each stage one batched call with per-block coefficients
        blocks = torchaudio.functional.lfilter(blocks, a[:, formant], b[:, formant], clamp=False, batching=True)

    # Overlap-add: block k starts at padded sample k * hop; add it hop-sized piece by piece.
    blocks = blocks.to(torch.float64).numpy()
    length = blocks.shape[1]
    out = np.zeros(blocks_n * hop + length)
    for piece in range(length // hop):
        out[piece * hop: piece * hop + blocks_n * hop] += blocks[:, piece * hop:(piece + 1) * hop].reshape(-1)
    return out[hop: hop + n]
