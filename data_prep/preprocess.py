"""From a recording to the spectrogram sequences the VAE sees (handout section 2.5.1).

Students read and comment `wave_to_sequences` in the lab: keep it short and plain.
"""

from __future__ import annotations

import torch

from vaelab_core import spec
from vaelab_core.audio import magnitude_spectrogram

#: Frames quieter than this, relative to the loudest frame of the file, count as silence
#: when trimming the start and the end of a recording.
SILENCE_DB = -40.0


def trim_silence(wave: torch.Tensor, threshold_db: float = SILENCE_DB) -> torch.Tensor:
    """Cut the leading and trailing silence of `wave: (samples,)`; pauses inside are kept.

    Returns an empty tensor when the whole file is silent.
    """
    if wave.numel() < spec.N_FFT:
        return wave[:0]
    frames = wave.unfold(0, spec.N_FFT, spec.HOP_LENGTH)  # (n_frames, N_FFT)
    level_db = 10 * torch.log10(frames.pow(2).mean(dim=1) + 1e-12)  # energy per frame
    loud = torch.nonzero(level_db > level_db.max() + threshold_db).flatten()
    if level_db.max() < -90 or loud.numel() == 0:  # digital silence: nothing to keep
        return wave[:0]
    start = loud[0] * spec.HOP_LENGTH
    stop = loud[-1] * spec.HOP_LENGTH + spec.N_FFT
    return wave[start:stop]


def cut_chunks(wave: torch.Tensor) -> torch.Tensor:
    """Steps 1 to 3 of `wave_to_sequences`: `wave: (samples,)` -> `(n, 38144)` chunks of audio."""
    # 1. Silence before the first word and after the last one carries no speech: drop it.
    wave = trim_silence(wave)

    # 2. Cut non-overlapping chunks of exactly 38,144 samples, the length that gives T = 150
    #    centred STFT frames; the incomplete tail is dropped.
    n = wave.numel() // spec.SEQUENCE_SAMPLES
    chunks = wave[: n * spec.SEQUENCE_SAMPLES].reshape(n, spec.SEQUENCE_SAMPLES)

    # 3. Peak-normalise each chunk to a maximum of 1, so that loud and quiet recordings (or
    #    microphones) give spectrograms on the same scale.
    peaks = chunks.abs().amax(dim=1, keepdim=True)
    return chunks / peaks.clamp_min(1e-8)


def wave_to_sequences(wave: torch.Tensor) -> torch.Tensor:
    """Turn one 16 kHz mono recording `wave: (samples,)` into spectrogram sequences.

    Returns `(n, T, F)` = (n, 150, 257) float32 magnitudes, one sequence per 2.38 s of speech;
    n is 0 when the recording is shorter than one sequence after trimming.
    """
    chunks = cut_chunks(wave)  # steps 1-3: trim, cut, peak-normalise -> (n, 38144)

    # 4. Magnitude of the STFT: sine window of 512 samples (32 ms), hop 256 (16 ms), centred
    #    frames with reflect padding -> (n, 150, 257).
    return magnitude_spectrogram(chunks)
