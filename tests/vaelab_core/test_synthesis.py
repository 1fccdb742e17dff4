"""vaelab_core.synthesis, the synth lab's plumbing: conditions, frames of notes, paths in a plane,
rendering, and the lab's measures (relative distances, jumpiness, pitch control)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab_core import spec, synthesis
from vaelab_core.notes import NOTE_FAMILIES, NOTE_FRAMES, NoteSet, midi_to_hz


def notes(count: int = 6) -> NoteSet:
    """`count` harmonic notes (f0 of MIDI 57 + 3 i), loud for 40 frames, silent after."""
    bins = torch.arange(spec.N_FREQ) * spec.SAMPLE_RATE / spec.N_FFT
    pitch = torch.tensor([57 + 3 * i for i in range(count)])
    spectra = torch.zeros(count, NOTE_FRAMES, spec.N_FREQ)
    for i, p in enumerate(pitch.tolist()):
        f0 = float(midi_to_hz(p))
        comb = sum(torch.exp(-0.5 * ((bins - k * f0) / 15) ** 2) / k for k in range(1, 12))
        spectra[i, :40] = comb + 1e-4
        spectra[i, 40:] = 1e-9
    family = torch.arange(count) % len(NOTE_FAMILIES)
    return NoteSet(spectra, family, pitch, torch.full((count,), 80), torch.zeros(count, dtype=torch.bool), {})


def test_a_condition_is_the_family_one_hot_then_overlapping_pitch_bumps():
    c = synthesis.condition(torch.tensor([2, 5]), torch.tensor([60.0, 61.0]))
    assert c.shape == (2, synthesis.CONDITION_DIM)
    assert c[0, :len(NOTE_FAMILIES)].tolist() == [0, 0, 1, 0, 0, 0]
    bumps = c[:, len(NOTE_FAMILIES):]
    assert bumps.max() <= 1 and torch.nn.functional.cosine_similarity(bumps[0], bumps[1], dim=0) > 0.9  # neighbours overlap


def test_frames_with_their_condition_split_back_exactly():
    spectra, cond = torch.rand(3, 4, spec.N_FREQ), torch.rand(3, synthesis.CONDITION_DIM)
    joined = synthesis.with_condition(spectra, cond)
    x, c = synthesis.Conditioned().split(joined)
    assert torch.equal(x, spectra) and torch.equal(c, cond[:, None].expand(-1, 4, -1))


def test_frames_of_keeps_the_sounding_frames_with_their_labels():
    frames, family, pitch = synthesis.frames_of(notes(), slice(None))
    assert len(frames) == 6 * 40  # the silent tails are dropped
    assert torch.equal(pitch[:40], torch.full((40,), 57)) and family[40] == 1


def test_a_path_in_a_plane_moves_only_its_two_units():
    origin = torch.arange(spec.LATENT_DIM, dtype=torch.float32)
    codes = synthesis.in_plane(torch.tensor([[9.0, -9.0], [1.0, 2.0]]), (3, 7), origin)
    assert codes[0, 3] == 9 and codes[1, 7] == 2
    keep = [u for u in range(spec.LATENT_DIM) if u not in (3, 7)]
    assert torch.equal(codes[:, keep], origin[keep].expand(2, -1))


def test_render_gives_about_a_second_of_bounded_audio_per_64_steps():
    wave = synthesis.render(torch.rand(64, spec.N_FREQ), n_iter=4)
    assert wave.shape == ((64 * 4 - 1) * spec.HOP_LENGTH,) and wave.abs().max() <= 0.5 + 1e-6


def test_the_measures_have_their_reference_points():
    data = np.random.default_rng(0).normal(0, 2, 1000)
    assert synthesis.jumpiness(np.full(50, 3.0), data) == 0
    assert synthesis.jumpiness(data, data) == pytest.approx(2 / np.sqrt(np.pi), rel=0.1)  # |a - b| of two draws
    rel = synthesis.relative_distances({d: 2.0 for d in synthesis.DESCRIPTORS}, {d: data for d in synthesis.DESCRIPTORS})
    assert rel["centroid"] == pytest.approx(1.0, rel=0.05) and rel["mean"] == pytest.approx(rel["rolloff"])


def test_pitch_control_of_exact_and_octave_off_answers():
    requested = np.array([57, 60, 64, 69])
    exact = synthesis.pitch_control(requested, np.array([float(midi_to_hz(p)) for p in requested]))
    assert exact["median_semitones"] == pytest.approx(0, abs=1e-9) and exact["correlation"] == pytest.approx(1)
    octave = synthesis.pitch_control(requested, 2 * np.array([float(midi_to_hz(p)) for p in requested]))
    assert octave["median_semitones"] == pytest.approx(12) and octave["within_half_semitone"] == 0


def test_the_f0_of_harmonic_frames_is_measured_at_their_pitch():
    set_ = notes()
    f0 = synthesis.measure_f0(set_.spectra[:, 10])
    found = synthesis.pitch_control(set_.pitch.numpy(), f0)
    assert found["median_semitones"] < 0.2


def test_the_nearest_note_is_of_the_family_asked_for():
    set_ = notes(12)
    chosen = synthesis.nearest_notes(set_, torch.tensor([1, 1]), torch.tensor([58, 200]))
    assert set_.family[chosen].tolist() == [1, 1] and set_.pitch[chosen].tolist() == [60, 78]


def test_strongest_units_and_correlations_find_the_unit_that_follows_a_descriptor():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(500, spec.LATENT_DIM, generator=g) * 0.1
    codes[:, 5] *= 30
    described = {d: codes[:, 5].double().numpy() * (1 if d != "flatness" else -1) for d in synthesis.DESCRIPTORS}
    assert synthesis.strongest_units(codes)[0] == 5
    table = synthesis.unit_correlations(codes, described)
    assert table.shape == (spec.LATENT_DIM, 4) and table[5, 0] == pytest.approx(1) and table[5, 2] == pytest.approx(-1)


def test_flatness_is_compared_in_decibels():
    described = synthesis.describe_all(lambda frames: {"flatness": np.array([1e-6, 1.0]), "centroid": np.array([1.0, 2.0])},
                                       {"data": torch.zeros(2, spec.N_FREQ)})
    assert described["data"]["flatness"].tolist() == [-60.0, 0.0] and described["data"]["centroid"].tolist() == [1, 2]
