"""Listening to reconstructions: the model's magnitudes turned back into audio two ways.

- with the original phase (inverse STFT): what the model's magnitudes alone change;
- by Griffin-Lim (phase estimated from the magnitudes): what a decoder-only system would give.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab_core import spec
from vaelab_core.audio import complex_stft, griffin_lim, istft


@torch.no_grad()
def reconstruct_audio(model: nn.Module, wave: torch.Tensor, n_iter: int = 64) -> dict[str, torch.Tensor]:
    """`wave: (samples,)` at 16 kHz -> {"original", "istft", "griffin_lim"}, each (samples,).

    The model reconstructs the magnitude spectrogram frame by frame (posterior mean decoded,
    magnitude exp(eta / 2)); the two inverse paths then give audio of the same length.
    """
    wave = wave.detach().cpu().to(torch.float32)
    spectrum = complex_stft(wave)  # (T, F) complex
    device = next(model.parameters()).device
    magnitude = model.reconstruct(spectrum.abs().to(device)).cpu()  # (T, F)
    return {
        "original": wave,
        "istft": istft(magnitude, spectrum.angle(), length=wave.numel()),
        "griffin_lim": griffin_lim(magnitude, n_iter=n_iter, length=wave.numel()),
    }


def listen(model: nn.Module, wave: torch.Tensor, title: str = "") -> dict[str, torch.Tensor]:
    """Show audio players (original, iSTFT with the original phase, Griffin-Lim) in a notebook.

    Returns the waveforms too. Levels are normalised per player by the browser.
    """
    from IPython.display import HTML, Audio, display

    sounds = reconstruct_audio(model, wave)
    labels = {"original": "original", "istft": "reconstruction, original phase (iSTFT)",
              "griffin_lim": "reconstruction, Griffin-Lim phase"}
    if title:
        display(HTML(f"<b>{title}</b>"))
    for key, sound in sounds.items():
        display(HTML(labels[key]), Audio(sound.numpy(), rate=spec.SAMPLE_RATE))
    return sounds
