"""Every figure function returns a Figure and, given save=, writes a complete PNG atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI machines

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelab_core import plots, spec  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS = 5


def history(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {split: {t: list(300 - 10 * np.arange(EPOCHS) + rng.normal(size=EPOCHS)) for t in plots.TERM_TITLES}
            for split in ("train", "eval")}


def seed_runs() -> dict:
    rng = np.random.default_rng(1)
    return {"seeds": [0, 1, 2],
            **{split: {t: 300 - 10 * np.arange(EPOCHS) + rng.normal(size=(3, EPOCHS)) for t in plots.TERM_TITLES}
               for split in ("train", "eval")}}


def spectrogram(seed: int) -> torch.Tensor:
    return torch.rand(spec.N_FRAMES, spec.N_FREQ, generator=torch.Generator().manual_seed(seed))


CASES = {
    "losses": lambda save: plots.plot_losses(history(), save=save, title="toy"),
    "losses_train_only": lambda save: plots.plot_losses({"train": history()["train"]}, save=save),
    "seed_band": lambda save: plots.plot_seed_band(seed_runs(), save=save),
    "seed_band_kl": lambda save: plots.plot_seed_band(seed_runs(), term="kl", save=save),
    "cross_table": lambda save: plots.plot_cross_table({"A": {"A": 250.0, "B": 280.0},
                                                         "B": {"A": 290.0, "B": 240.0}}, save=save),
    "reconstruction": lambda save: plots.plot_reconstruction(spectrogram(0), spectrogram(1), save=save,
                                                             title="toy"),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", CASES)
def test_returns_a_figure_without_writing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    figure = CASES[name](None)
    assert isinstance(figure, Figure)
    assert figure.axes, "the figure should have axes"
    assert list(tmp_path.iterdir()) == [], "no file should be written without save="


@pytest.mark.parametrize("name", CASES)
def test_save_writes_a_complete_png_and_no_temporary_file(name, tmp_path):
    target = tmp_path / "figures" / f"{name}.png"  # the folder does not exist yet
    figure = CASES[name](target)
    assert isinstance(figure, Figure)
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{target} is not a PNG"
    assert data.endswith(b"IEND\xaeB`\x82"), f"{target} is truncated (no IEND chunk)"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 200, f"unexpectedly small image: {width} x {height}"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name], "a temporary file was left"


def test_save_replaces_an_existing_figure(tmp_path):
    target = tmp_path / "losses.png"
    target.write_bytes(b"old")
    plots.plot_losses(history(), save=target)
    assert target.read_bytes().startswith(PNG_SIGNATURE)


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "losses.png"
    target.write_bytes(b"old")

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        plots.plot_losses(history(), save=target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["losses.png"], "a temporary file was left"


def test_loss_curves_plot_the_history_values():
    h = history()
    figure = plots.plot_losses(h)
    for ax, term in zip(figure.axes, plots.TERM_TITLES):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"train", "eval"}
        np.testing.assert_allclose(lines["train"].get_ydata(), h["train"][term])
        np.testing.assert_array_equal(lines["eval"].get_xdata(), np.arange(1, EPOCHS + 1))


def test_seed_band_is_mean_over_seeds():
    runs = seed_runs()
    figure = plots.plot_seed_band(runs)
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    np.testing.assert_allclose(lines["train mean"].get_ydata(), runs["train"]["total"].mean(0))
    np.testing.assert_allclose(lines["eval mean"].get_ydata(), runs["eval"]["total"].mean(0))


def test_cross_table_annotates_every_cell():
    table = {"A": {"A": 250.0, "B": 280.0}, "B": {"A": 290.0, "B": 240.0}}
    figure = plots.plot_cross_table(table)
    texts = sorted(t.get_text() for t in figure.axes[0].texts)
    assert texts == sorted(["250.0", "280.0", "290.0", "240.0"])


def test_a_huge_first_epoch_does_not_flatten_the_curves():
    curve = [5000.0, 100.0, 60.0, 40.0, 30.0]
    fig = plots.plot_losses({"train": {t: curve for t in plots.TERM_TITLES}})
    low, high = fig.axes[0].get_ylim()
    assert high < 200 and low < 30  # scaled to epochs 2+, the first point off the top
    assert "epoch 1 above the top" in fig.axes[0].get_title()
    plt.close(fig)
    modest = history()  # no outlier: the axis keeps every point
    fig = plots.plot_losses(modest)
    assert fig.axes[0].get_ylim()[1] >= max(modest["train"]["total"])
    plt.close(fig)
