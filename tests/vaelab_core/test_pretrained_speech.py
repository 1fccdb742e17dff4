"""The shipped pre-trained model on real readers it has never seen (../shared/speech test-other).

Readers 1998 (F) and 2033 (M) play Speaker A and Speaker B; reader 3331 (F) and 1688 (M) check
that the pre-trained model is useful. All are absent from the pre-training corpus
(train-clean-100). Skipped when ../shared/speech is not on the machine.
"""

from __future__ import annotations

import pytest

from data_prep.build import main as build
from grader.assignment import default_solutions, load_reference
from vaelab_core.checkpoints import load_checkpoint, load_pretrained, pretrained_path
from vaelab_core.datasets import load_dataset
from vaelab_core.training import evaluate, finetune, new_model, train

pytestmark = [pytest.mark.speech, pytest.mark.slow]

Reference = load_reference(default_solutions())


@pytest.fixture(scope="module")
def readers(speech_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("readers")
    return {reader: load_dataset(build(speech_dir / "test-other", folder / f"{reader}.npz",
                                       speaker=reader, quiet=True))
            for reader in ("1998", "2033", "3331", "1688")}


def test_the_shipped_checkpoint_records_how_it_was_made():
    provenance = load_checkpoint(pretrained_path())["provenance"]
    assert provenance["corpus_readers"] >= 240
    assert provenance["command"].startswith("vaelab pretrain")
    assert len(provenance["corpus_manifest_sha256"]) == 64


@pytest.mark.parametrize("reader", ["3331", "1688"])
def test_pretrained_beats_thirty_epochs_from_scratch_on_an_unseen_reader(readers, reader):
    data = readers[reader]
    pretrained = load_pretrained(Reference())
    scratch = new_model(Reference, seed=0)
    train(scratch, data, epochs=30, seed=0, progress=False)
    assert evaluate(pretrained, data)["total"] < evaluate(scratch, data)["total"]


def test_each_fine_tuned_model_is_best_on_its_own_speaker(readers):
    a, b = readers["1998"], readers["2033"]
    assert len(a.train) + len(a.eval) >= 20 and len(b.train) + len(b.eval) >= 20
    pretrained = load_pretrained(Reference())
    model_a, _ = finetune(pretrained, a, epochs=20, seed=0, progress=False)
    model_b, _ = finetune(pretrained, b, epochs=20, seed=0, progress=False)
    on_a = {name: evaluate(m, a)["total"] for name, m in
            (("pretrained", pretrained), ("A", model_a), ("B", model_b))}
    on_b = {name: evaluate(m, b)["total"] for name, m in
            (("pretrained", pretrained), ("A", model_a), ("B", model_b))}
    assert on_a["A"] < on_a["pretrained"] and on_a["A"] < on_a["B"], on_a
    assert on_b["B"] < on_b["pretrained"] and on_b["B"] < on_b["A"], on_b
