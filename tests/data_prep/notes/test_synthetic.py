"""The built-in notes (`data_prep.notes.synthetic`): the lab's note file without any soundfont.

Checked as a student's notebook will use them: the format and labels, a split by whole notes,
pitches that an f0 estimator finds where the labels say, velocity heard as loudness and
brightness, and the same bytes from the same seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from data_prep.notes import synthetic
from data_prep.notes.families import FAMILIES, VELOCITIES, is_eval, note_labels
from vaelab_core import spec
from vaelab_core.notes import NOTE_FAMILIES, NOTE_FRAMES, NOTE_RELEASE_FRAME, NoteSet, load_notes, midi_to_hz
from vaelab_core.voice_analysis import estimate_f0

BIN_HZ = spec.SAMPLE_RATE / spec.N_FFT


@pytest.fixture(scope="module")
def builtin(tmp_path_factory: pytest.TempPathFactory) -> NoteSet:
    return load_notes(synthetic.main(tmp_path_factory.mktemp("notes") / "notes.npz", quiet=True))


def frames_of(notes: NoteSet, family: str, pitch: int, velocity: int) -> np.ndarray:
    """`(NOTE_FRAMES, F)` magnitudes of one note."""
    index = ((notes.family == NOTE_FAMILIES.index(family)) & (notes.pitch == pitch)
             & (notes.velocity == velocity)).nonzero()
    assert len(index) == 1, (family, pitch, velocity)
    return notes.spectra[int(index[0, 0])].numpy()


def test_every_note_of_every_family_is_there_with_its_labels(builtin: NoteSet):
    family, pitch, velocity = note_labels()
    assert builtin.spectra.shape == (len(pitch), NOTE_FRAMES, spec.N_FREQ)
    assert builtin.family.tolist() == family.tolist() and builtin.pitch.tolist() == pitch.tolist()
    assert builtin.velocity.tolist() == velocity.tolist()
    assert builtin.source == "builtin" and builtin.manifest["silent"]["count"] == 0
    assert builtin.manifest["pitch_ranges"] == {f.name: [f.low, f.high] for f in FAMILIES}
    assert builtin.manifest["velocities"] == list(VELOCITIES)
    assert builtin.manifest["counts"]["notes"] == len(pitch)
    assert set(builtin.manifest["synthesis"]["timbres"]) == set(NOTE_FAMILIES)
    assert (builtin.spectra.amax(dim=(1, 2)) > 0).all(), "a silent note"


def test_the_split_is_by_whole_notes_and_recorded(builtin: NoteSet):
    held = builtin.is_eval.numpy()
    assert (held == is_eval(builtin.family.numpy(), builtin.pitch.numpy(), 0)).all()
    for k, name in enumerate(NOTE_FAMILIES):
        mine = builtin.family.numpy() == k
        eval_pitches = sorted(set(builtin.pitch.numpy()[mine & held].tolist()))
        assert eval_pitches == builtin.manifest["split"]["eval_pitches"][name]
        assert set(eval_pitches).isdisjoint(builtin.pitch.numpy()[mine & ~held].tolist())
    assert len(builtin.split("eval")) == builtin.manifest["counts"]["eval"] == int(held.sum())
    assert len(builtin.split("train")) + len(builtin.split("eval")) == len(builtin)


@pytest.mark.parametrize("family", NOTE_FAMILIES)
def test_the_pitch_is_where_the_label_says(builtin: NoteSet, family: str):
    """estimate_f0 on the held part of mid-range notes (frames 8-40: after the attack, before the
    release) finds midi_to_hz(pitch) within 3 % (the piano's stretched partials pull it up ~1.5 %)."""
    f = FAMILIES[NOTE_FAMILIES.index(family)]
    middle = (f.low + f.high) // 2
    for pitch in (middle - 5, middle, middle + 4):
        target = float(midi_to_hz(pitch))
        found = np.nanmedian(estimate_f0(frames_of(builtin, family, pitch, 80)[8:40],
                                         fmin=0.7 * target, fmax=1.4 * target))
        assert abs(found / target - 1) < 0.03, (family, pitch, found, target)


@pytest.mark.parametrize("family", NOTE_FAMILIES)
def test_velocity_sets_loudness_and_brightness(builtin: NoteSet, family: str):
    freqs = np.arange(spec.N_FREQ) * BIN_HZ
    energy, centroid = [], []
    for velocity in VELOCITIES:
        power = np.mean([frames_of(builtin, family, p, velocity)[2:40] ** 2
                         for p in range(FAMILIES[NOTE_FAMILIES.index(family)].low + 10,
                                        FAMILIES[NOTE_FAMILIES.index(family)].low + 20)], axis=0)
        energy.append(power.sum())
        centroid.append((power.sum(axis=0) * freqs).sum() / power.sum())
    assert energy[0] < energy[1] < energy[2] and 10 * np.log10(energy[2] / energy[0]) > 15
    assert centroid[0] < centroid[1] < centroid[2], centroid


def test_every_note_is_released_at_the_release_frame(builtin: NoteSet):
    energy = (builtin.spectra ** 2).sum(-1)  # (N, T)
    held = energy[:, NOTE_RELEASE_FRAME - 4]
    gone = energy[:, NOTE_RELEASE_FRAME + 12]
    assert (gone < 0.1 * held).all()  # 10 dB down 0.2 s after the note-off, for every family


def test_the_families_sound_like_their_instruments(builtin: NoteSet):
    """At the same pitch (C4-ish) and velocity: the flute's energy is nearly all in its first
    partial, the brass the brightest; the piano's partials are stretched above the harmonics, the
    brass's are not."""
    freqs = np.arange(spec.N_FREQ) * BIN_HZ
    pitch = 67  # G4: in every family's range
    f0 = float(midi_to_hz(pitch))

    def power(family: str) -> np.ndarray:
        return (frames_of(builtin, family, pitch, 120)[5:40] ** 2).mean(axis=0)

    flute = power("flute")
    assert flute[np.abs(freqs - f0) < 1.5 * BIN_HZ].sum() > 0.8 * flute.sum()
    centroids = {name: (power(name) * freqs).sum() / power(name).sum() for name in NOTE_FAMILIES}
    assert max(centroids, key=centroids.get) == "brass" and min(centroids, key=centroids.get) in ("flute", "bass")
    # partial 12, the one peak between 11.5 f0 and 12.8 f0: the keyboard's at 12 sqrt(1 + 144 B)
    # f0 = 12.5 f0 (B = 6e-4 at G4: inharmonicity), the brass's on 12 f0 (the vocal's, 60 dB under
    # its formants and smeared by its vibrato, is as weak as the breath noise there)
    keyboard, brass = power("keyboard"), power("brass")
    near = (freqs > 11.5 * f0) & (freqs < 12.8 * f0)
    stretched, harmonic = freqs[near][keyboard[near].argmax()], freqs[near][brass[near].argmax()]
    assert stretched > 12.3 * f0, f"the keyboard's partial 12 at {stretched / f0:.2f} f0, expected about 12.5 f0"
    assert abs(harmonic - 12 * f0) < 1.5 * BIN_HZ, f"the brass's partial 12 at {harmonic / f0:.2f} f0, expected 12 f0"


def test_the_sustain_is_not_cleaner_between_partials_than_recorded_notes(builtin: NoteSet):
    """Lab 1's likelihood weighs each bin by the inverse of its predicted power: spectra that are
    near-silent between partials make a model chase near-zero magnitudes (a WAE diverges on them).

    On the sustain frames (4, 8, ..., 36, within 60 dB of the note's loudest), a frame's floor,
    the 10th percentile of its magnitudes in dB below its peak, has a median above -95 dB (FluidR3_GM's
    notes: -81 dB; the additive partials alone: -108 dB), and no family's below -112 dB (FluidR3_GM's
    bass and guitar, the cleanest: -107 dB). benchmarks/notes_realism.py measures it per family."""
    spectra = builtin.spectra.numpy().astype(np.float64)
    energy = (spectra ** 2).sum(-1)  # (N, T)
    loud = energy > 1e-6 * energy.max(1, keepdims=True)
    note, frame = loud[:, 4:40:4].nonzero()
    frames = spectra[:, 4:40:4][note, frame]  # (M, F)
    level = 20 * np.log10(np.maximum(frames, 1e-12) / frames.max(1, keepdims=True))
    floor = np.percentile(level, 10, axis=1)  # (M,)
    assert np.median(floor) > -95, (
        f"the sustain frames' median floor is {np.median(floor):.1f} dB below their peak, expected above -95 dB: "
        "is the noise floor (Timbre.floor, Timbre.breath) missing or too quiet?")
    family = builtin.family.numpy()[note]
    for k, name in enumerate(NOTE_FAMILIES):
        median = np.median(floor[family == k])
        assert median > -112, f"{name}: median floor {median:.1f} dB below the peak, expected above -112 dB"


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path):
    subset = {"flute": [60, 61, 62, 63, 64], "keyboard": [21, 108]}
    made = [synthetic.main(tmp_path / f"{i}.npz", pitches=subset, command="test", quiet=True) for i in range(2)]
    assert made[0].read_bytes() == made[1].read_bytes()
    other = load_notes(synthetic.main(tmp_path / "seed1.npz", seed=1, pitches=subset, command="test", quiet=True))
    first = load_notes(made[0])
    assert not torch.equal(first.spectra, other.spectra)  # other phases and noise
    assert not torch.equal(first.is_eval, other.is_eval)  # another pitch of every five held out
