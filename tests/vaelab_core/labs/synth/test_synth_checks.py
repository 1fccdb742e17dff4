"""The synth lab's self-checks: a correct solution passes each one; each typical mistake stops it
with the message that names the mistake (the checks' hand-worked frames and paths, STYLE.md 6).

The oracle functions here are correct implementations written for the tests (not the notebook's
solution), so the checks are tested against code that reaches the same numbers another way.
"""

from __future__ import annotations

import math

import librosa.feature.spectral  # noqa: F401  (loads LibROSA's spectral features)
import librosa
import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from vaelab_core import spec
from vaelab_core.checking import SelfCheckFailed
from vaelab_core.labs.synth.synth_checks import (check_conditional_vae, check_descriptor_distance, check_descriptors,
                                                 check_note_path, check_paths)
from vaelab_core.model import SpeechVAEBase
from vaelab_core.synthesis import DESCRIPTORS, Conditioned


def descriptors(magnitudes, power=1, sr=spec.SAMPLE_RATE, transpose=True):
    S = np.asarray(magnitudes, dtype=np.float64) ** power
    S = S.T if transpose else S
    return {"centroid": librosa.feature.spectral_centroid(S=S, sr=sr)[0],
            "bandwidth": librosa.feature.spectral_bandwidth(S=S, sr=sr)[0],
            "flatness": librosa.feature.spectral_flatness(S=S)[0],
            "rolloff": librosa.feature.spectral_rolloff(S=S, sr=sr)[0]}


def distance(a, b):
    return {d: scipy.stats.wasserstein_distance(a[d], b[d]) for d in DESCRIPTORS}


def line(start, end, steps):
    t = torch.linspace(0, 1, steps)[:, None]
    return torch.as_tensor(start) + t * (torch.as_tensor(end) - torch.as_tensor(start))


def circle(centre, radius, steps, scale=1.0, clockwise=False, closed=False):
    angle = 2 * math.pi * torch.arange(steps) / (steps - 1 if closed else steps)
    angle = -angle if clockwise else angle
    return torch.as_tensor(centre) * scale + radius * torch.stack([angle.cos(), angle.sin()], -1)


def spiral(centre, r0, r1, turns, steps):
    t = torch.linspace(0, 1, steps)
    radius = r0 + (r1 - r0) * t
    return torch.as_tensor(centre) + radius[:, None] * torch.stack([(2 * math.pi * turns * t).cos(),
                                                                    (2 * math.pi * turns * t).sin()], -1)


def random_walk(start, step_size, steps, generator):
    moves = torch.randn(steps - 1, 2, generator=generator) * step_size
    return torch.cat([torch.as_tensor(start)[None], torch.as_tensor(start) + moves.cumsum(0)])


class Lab1VAE(SpeechVAEBase):
    def build(self):
        def stack(sizes):
            return nn.Sequential(*[m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.Tanh())])
        self.mlp_x_z = stack((self.x_dim + self.extra_x, *self.encoder_hidden))
        self.inf_mean = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.inf_logvar = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.mlp_z_x = stack((self.z_dim + self.extra_z, *self.decoder_hidden))
        self.gen_logvar = nn.Linear(self.decoder_hidden[-1], self.x_dim)

    extra_x = extra_z = 0

    def generation_x(self, z):
        return self.gen_logvar(self.mlp_z_x(z))

    def reparametrization(self, mean, logvar):
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)

    def inference(self, x):
        h = self.mlp_x_z(x)
        mean, logvar = self.inf_mean(h), self.inf_logvar(h)
        return self.reparametrization(mean, logvar), mean, logvar

    def get_loss(self, x, eta, mean, logvar):
        recon = (spec.LOG_PI + eta + x.pow(2) * torch.exp(-eta)).sum(-1).mean()
        kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1).mean()
        return recon + kl, recon, kl


class ConditionalVAE(Conditioned, Lab1VAE):
    extra_x = extra_z = Conditioned.condition_dim

    def inference(self, x, c):
        return super().inference(torch.cat([x, c], -1))

    def generation_x(self, z, c):
        return super().generation_x(torch.cat([z, c], -1))


class EncoderOnly(Conditioned, Lab1VAE):
    extra_x = Conditioned.condition_dim

    def inference(self, x, c):
        return super().inference(torch.cat([x, c], -1))

    def generation_x(self, z, c):
        return super().generation_x(z)


def failure(check, *args) -> str:
    with pytest.raises(SelfCheckFailed) as caught:
        check(*args)
    return str(caught.value)


def test_correct_functions_pass_every_check(capsys):
    check_descriptors(descriptors)
    check_descriptor_distance(distance)
    check_paths(line, circle, spiral, random_walk)
    check_note_path(lambda model, spectra: model.inference(spectra)[1].detach(), Lab1VAE)
    check_conditional_vae(ConditionalVAE)
    assert capsys.readouterr().out.count("✓") == 8


@pytest.mark.parametrize("wrong, says", [
    (lambda m: descriptors(m, power=2), "POWER spectrum"),
    (lambda m: descriptors(m, sr=22050), "22050"),
    (lambda m: descriptors(m, transpose=False), "(bins, frames)"),
    (lambda m: {k: v for k, v in descriptors(m).items() if k != "rolloff"}, "lacks ['rolloff']"),
])
def test_descriptor_mistakes_are_named(wrong, says):
    assert says in failure(check_descriptors, wrong)


def test_a_difference_of_means_is_not_a_wasserstein_distance():
    message = failure(check_descriptor_distance, lambda a, b: {d: abs(np.mean(a[d]) - np.mean(b[d])) for d in DESCRIPTORS})
    assert "wider spread" in message and "wasserstein_distance" in message


@pytest.mark.parametrize("wrong_circle, says", [
    (lambda c, r, s: circle(c, 2 * r, s), "twice the radius"),
    (lambda c, r, s: circle(c, r / 2, s), "halved"),
    (lambda c, r, s: circle(c, r, s, scale=0.0), "centred on (0, 0)"),
    (lambda c, r, s: circle(c, r, s, clockwise=True), "clockwise"),
    (lambda c, r, s: circle(c, r, s, closed=True), "repeats the first"),
])
def test_circle_mistakes_are_named(wrong_circle, says):
    assert says in failure(check_paths, line, wrong_circle, spiral, random_walk)


def test_a_walk_off_the_generator_or_of_variance_steps_is_stopped():
    unseeded = lambda start, size, steps, g: random_walk(start, size, steps, None)  # noqa: E731
    assert "generator" in failure(check_paths, line, circle, spiral, unseeded)
    squared = lambda start, size, steps, g: random_walk(start, size ** 2, steps, g)  # noqa: E731
    assert "standard deviation" in failure(check_paths, line, circle, spiral, squared)


def test_a_note_path_of_samples_is_named():
    assert "SAMPLES" in failure(check_note_path, lambda model, spectra: model.inference(spectra)[0].detach(), Lab1VAE)


def test_a_condition_given_to_the_encoder_only_is_named():
    message = failure(check_conditional_vae, EncoderOnly)
    assert "first layer of mlp_z_x" in message and "z_dim + condition_dim" in message
