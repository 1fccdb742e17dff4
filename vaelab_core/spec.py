"""The lab contract in numbers: the one place that defines them.

Everything that touches audio, spectrograms or the model reads these constants from here
(handout section 2.1; README.md, "The lab"). Change a number here and every part of
the kit follows; hard-code one anywhere else and the parts drift apart.
"""

from __future__ import annotations

import math

#: Sample rate of every signal the kit handles, in Hz. Recordings at other rates are resampled.
SAMPLE_RATE = 16_000

#: STFT frame length in samples: 512 samples = 32 ms at 16 kHz.
N_FFT = 512

#: STFT hop in samples (50 % overlap), 16 ms at 16 kHz.
HOP_LENGTH = 256

#: Analysis and synthesis window. A sine window, w[n] = sin(pi (n + 1/2) / N_FFT), as in the
#: reference speech VAE: with a hop of half the frame its square sums to one across frames
#: (Princen-Bradley), so analysis followed by overlap-add synthesis with the same window gives
#: the signal back exactly.
WINDOW = "sine"

#: Frames are centred on their sample (the signal is padded by N_FFT // 2 on both sides) ...
CENTER = True
#: ... with reflect padding, so the first and last frames see speech rather than zeros.
PAD_MODE = "reflect"

#: Frequency bins of a one-sided spectrum: N_FFT // 2 + 1 = 257 (the handout's F).
N_FREQ = N_FFT // 2 + 1

#: Frames per sequence (the handout's T).
N_FRAMES = 150

#: Samples in one sequence: with centred frames, L samples give 1 + L // HOP_LENGTH frames,
#: so exactly N_FRAMES frames need (N_FRAMES - 1) * HOP_LENGTH = 38,144 samples (2.38 s).
SEQUENCE_SAMPLES = (N_FRAMES - 1) * HOP_LENGTH

#: Seconds of audio in one sequence: SEQUENCE_SAMPLES / SAMPLE_RATE = 2.384 s. Minutes of speech
#: in a dataset are its sequence count times this (data build, check and defaults report them).
SEQUENCE_SECONDS = SEQUENCE_SAMPLES / SAMPLE_RATE

#: Latent dimension (the handout's Z).
LATENT_DIM = 16

#: Hidden sizes of the encoder's dense tanh layers (handout 2.3); the decoder mirrors them.
ENCODER_HIDDEN = (256, 128, 64, 32)
DECODER_HIDDEN = (32, 64, 128, 256)

#: Attribute names of the model's parts. The pre-trained checkpoint is loaded into a student's
#: own model by these names, so they are part of the contract.
MODEL_PARTS = ("mlp_x_z", "inf_mean", "inf_logvar", "mlp_z_x", "gen_logvar")

#: log(pi), the constant of the complex Gaussian's log-density (handout eq. (2)).
LOG_PI = math.log(math.pi)

#: Dtype of stored spectrograms.
DTYPE = "float32"

assert N_FREQ == 257 and SEQUENCE_SAMPLES == 38_144
