"""What both sources play: the families' programs and ranges, the labels, the split by pitch."""

from __future__ import annotations

import numpy as np

from data_prep.notes.families import EVAL_EVERY, FAMILIES, VELOCITIES, eval_offset, is_eval, note_labels
from vaelab_core.notes import NOTE_FAMILIES


def test_every_family_has_a_general_midi_program_and_a_range():
    assert tuple(f.name for f in FAMILIES) == NOTE_FAMILIES
    for family in FAMILIES:
        assert 1 <= family.program <= 128 and family.gm_name
        assert 21 <= family.low < family.high <= 108, family  # within a piano's keys
    family, pitch, velocity = note_labels()
    assert 800 <= len(pitch) <= 1000  # about 900 notes
    assert set(velocity.tolist()) == set(VELOCITIES) == {40, 80, 120}


def test_labels_are_ordered_by_family_pitch_velocity_and_a_subset_keeps_the_order():
    family, pitch, velocity = note_labels()
    order = np.lexsort((velocity, pitch, family))
    assert (order == np.arange(len(order))).all()
    family, pitch, velocity = note_labels(FAMILIES[:2], (80,), {"bass": [40, 30], "brass": [60]})
    assert family.tolist() == [0, 0, 1] and pitch.tolist() == [40, 30, 60] and velocity.tolist() == [80] * 3


def test_the_split_holds_out_whole_pitches_every_fifth_one():
    family, pitch, _ = note_labels()
    held = is_eval(family, pitch, seed=0)
    assert 0.18 < held.mean() < 0.22
    for k, f in enumerate(FAMILIES):
        mine = family == k
        # all velocities of a pitch are on one side: no eval note shares its pitch with a training note
        eval_pitches = set(pitch[mine & held].tolist())
        assert eval_pitches.isdisjoint(pitch[mine & ~held].tolist())
        assert sorted(eval_pitches) == list(range(f.low + eval_offset(0), f.high + 1, EVAL_EVERY))
        assert f.low not in eval_pitches  # seed 0 holds out the third of every five: never a range's lowest


def test_the_seed_moves_the_held_out_pitches():
    family, pitch, _ = note_labels()
    splits = [is_eval(family, pitch, seed) for seed in range(EVAL_EVERY)]
    assert (np.sum(splits, axis=0) == 1).all()  # five seeds: each note held out exactly once
    assert (is_eval(family, pitch, 7) == splits[7 % EVAL_EVERY]).all()
