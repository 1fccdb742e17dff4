"""The thread count of a training run, chosen on its first steps (vaelab_core.threads)."""

from __future__ import annotations

import pytest
import torch

from grader.assignment import default_solutions, load_reference
from vaelab_core import spec, threads
from vaelab_core.audio import griffin_lim
from vaelab_core.datasets import SpeakerDataset
from vaelab_core.errors import VaelabError
from vaelab_core.threads import MIN_STEPS, THREADS_ENV, ThreadChoice, as_measured
from vaelab_core.training import TrainingError, evaluate, new_model, train

Reference = load_reference(default_solutions())


@pytest.fixture(autouse=True)
def _nothing_chosen_yet(monkeypatch):
    monkeypatch.setattr(threads, "_announced", set())
    monkeypatch.setattr(threads, "_latest", {})


class StepClock:
    """A clock for ThreadChoice: each step lasts `seconds[count]` on `count` threads."""

    def __init__(self, seconds: dict[int, float]):
        self.seconds, self.now, self.pending = seconds, 0.0, 0.0

    def __call__(self) -> float:
        self.now += self.pending
        self.pending = 0.0
        return self.now

    def run_step(self, choice: ThreadChoice, frames: int = 600) -> int:
        """One step under `choice`: the thread count it ran on."""
        choice.begin()
        count = torch.get_num_threads()
        self.pending = self.seconds[count]
        choice.end(frames)
        return count


def steps(choice: ThreadChoice, clock: StepClock, n: int) -> list[int]:
    return [clock.run_step(choice) for _ in range(n)]


def test_the_callers_threads_are_kept_when_they_are_faster(torch_threads):
    torch_threads(2)
    clock, said = StepClock({2: 0.005, 1: 0.007}), []
    choice = ThreadChoice(MIN_STEPS, clock=clock, announce=said.append)
    counts = steps(choice, clock, 12)
    assert counts[:7] == [2, 2, 1, 2, 1, 2, 1], "a warm-up step, then the two counts in turn"
    assert choice.chosen == 2 and counts[7:] == [2] * 5
    assert said == []


def test_one_thread_is_chosen_when_clearly_faster_and_said_once(torch_threads):
    torch_threads(2)
    clock, said = StepClock({2: 0.040, 1: 0.004}), []
    for _ in range(2):
        choice = ThreadChoice(MIN_STEPS, clock=clock, announce=said.append)
        counts = steps(choice, clock, 10)
        assert choice.chosen == 1 and counts[7:] == [1, 1, 1]
        choice.restore()
        assert torch.get_num_threads() == 2, "the caller gets its thread count back"
    assert len(said) == 1, "the reason is told once per process, not before every run"
    assert "1 thread, not 2" in said[0] and "10.0 times faster" in said[0], said[0]


def test_a_small_gain_keeps_the_callers_threads(torch_threads):
    torch_threads(2)
    clock = StepClock({2: 0.0055, 1: 0.005})  # one thread 10 % faster: within the noise of a few steps
    choice = ThreadChoice(MIN_STEPS, clock=clock, announce=None)
    steps(choice, clock, 8)
    assert choice.chosen == 2


def test_time_is_compared_per_frame_not_per_step(torch_threads):
    torch_threads(2)
    clock = StepClock({2: 0.005, 1: 0.004})
    choice = ThreadChoice(MIN_STEPS, clock=clock, announce=None)
    for i in range(7):  # the steps on one thread carry twice the frames: per frame it is faster
        choice.begin()
        count = torch.get_num_threads()
        clock.pending = clock.seconds[count]
        choice.end(1200 if count == 1 else 600)
    assert choice.chosen == 1


def test_nothing_is_measured_on_one_thread_in_a_short_run_or_when_fixed(torch_threads, monkeypatch):
    torch_threads(1)
    assert ThreadChoice(10 * MIN_STEPS).chosen == 1, "one thread: nothing to choose (graded kernels)"
    torch_threads(2)
    short = ThreadChoice(MIN_STEPS - 1)
    assert short.chosen == 2 and short.schedule == []
    monkeypatch.setenv(THREADS_ENV, "fixed")
    assert ThreadChoice(10 * MIN_STEPS).chosen == 2
    monkeypatch.setenv(THREADS_ENV, "one")
    with pytest.raises(VaelabError, match="VAELAB_TRAIN_THREADS='one': expected 'fixed'"):
        ThreadChoice(10 * MIN_STEPS)


def random_data(n_train: int = 12) -> SpeakerDataset:
    g = torch.Generator().manual_seed(0)
    shape = (spec.N_FRAMES, spec.N_FREQ)
    return SpeakerDataset(torch.rand(n_train, *shape, generator=g) * 2, torch.rand(4, *shape, generator=g) * 2, {})


def run(threads_given: int, torch_threads) -> tuple[dict, dict]:
    torch_threads(threads_given)
    model = new_model(Reference, 0)
    history = train(model, random_data(), epochs=3, seed=0, progress=False)  # 9 steps: 7 to measure, 2 after
    assert torch.get_num_threads() == threads_given
    return history, model.state_dict()


def test_a_run_that_changes_its_thread_count_trains_to_the_same_numbers(torch_threads, monkeypatch):
    """The assumption the choice rests on, checked on the machine that runs the tests: a run on
    one thread, a run on two, and a run that measures both and moves to one give the same
    histories and weights to the bit. (Short runs measure here: two threads beside the rest of
    the suite are slow.)"""
    monkeypatch.setattr(threads, "MIN_STEPS", 9)
    monkeypatch.setenv(THREADS_ENV, "fixed")
    one, one_weights = run(1, torch_threads)
    two, two_weights = run(2, torch_threads)
    monkeypatch.setenv(THREADS_ENV, "measure")
    monkeypatch.setattr(threads, "MARGIN", 0.0)  # one thread always wins: the run moves to it
    moved, moved_weights = run(2, torch_threads)
    assert (one["threads"], two["threads"], moved["threads"]) == (1, 2, 1)
    for history in (two, moved):
        assert history["train"] == one["train"] and history["eval"] == one["eval"]
    for state in (two_weights, moved_weights):
        assert all(torch.equal(state[k], one_weights[k]) for k in one_weights)


class BreaksOnItsThirdStep(Reference):
    calls = 0

    def get_loss(self, x, eta, mean, logvar):
        loss, recon, kl = super().get_loss(x, eta, mean, logvar)
        BreaksOnItsThirdStep.calls += 1
        return (loss * float("nan") if BreaksOnItsThirdStep.calls == 3 else loss), recon, kl


def test_a_run_that_fails_while_on_one_thread_gives_the_callers_threads_back(torch_threads):
    torch_threads(2)
    with pytest.raises(TrainingError, match="step 3"):  # the third step runs on one thread
        train(new_model(BreaksOnItsThirdStep, 0), random_data(), epochs=MIN_STEPS, seed=0, progress=False)
    assert torch.get_num_threads() == 2


def test_an_evaluation_with_many_batches_chooses_as_a_run_does_and_gives_the_same_numbers(torch_threads, monkeypatch):
    torch_threads(1)
    model = new_model(Reference, 0)
    monkeypatch.setattr(threads, "MIN_STEPS", 9)
    x = random_data(n_train=9).train  # one sequence per batch below: 9 batches, 7 to measure
    on_one = evaluate(model, x, batch_size=1)
    torch_threads(2)
    monkeypatch.setattr(threads, "MARGIN", 0.0)  # one thread always wins
    moved = evaluate(model, x, batch_size=1)
    assert moved == on_one and torch.get_num_threads() == 2
    assert threads._latest == {2: 1}, "the choice is kept for work too short to time"


def test_short_work_runs_on_the_latest_choice_and_gives_the_callers_count_back(torch_threads):
    torch_threads(2)
    with as_measured() as count:
        assert count == 2 == torch.get_num_threads(), "no choice made yet: the caller's count"
    threads._latest[2] = 1
    with as_measured() as count:
        assert count == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 2
    torch_threads(3)
    with as_measured() as count:
        assert count == 3, "a choice made for 2 threads says nothing about 3"


def test_griffin_lim_gives_the_same_audio_on_either_count(torch_threads):
    magnitude = torch.rand(40, spec.N_FREQ, generator=torch.Generator().manual_seed(0))
    torch_threads(2)
    on_two = griffin_lim(magnitude, n_iter=8)
    threads._latest[2] = 1
    moved = griffin_lim(magnitude, n_iter=8)
    assert torch.equal(on_two, moved) and torch.get_num_threads() == 2
