"""One plotting style for every figure (issue #14.7): the figures' labels, units, colours and
legend placement, read from the matplotlib objects that memhil.experiments.report draws."""
import pytest

from memhil.experiments import report


@pytest.fixture
def figures(monkeypatch, tmp_path):
    """Every figure the report module saves, captured before it is closed."""
    got = []
    monkeypatch.setattr(report, "_save", lambda fig, path: got.append(fig))
    return got


def _hist(acc):
    return [{"epoch": i + 1, "test_accuracy": a, "train_loss": 1.0 / (i + 1)}
            for i, a in enumerate(acc)]


def test_training_curves(figures, tmp_path):
    report.plot_histories(tmp_path / "c.png", {"memristive": _hist([0.5, 0.7, 0.8]),
                                               "float": _hist([0.6, 0.8, 0.9])}, "digits")
    (fig,) = figures
    acc, loss = fig.axes
    assert fig._suptitle.get_text() == "digits"
    assert "%" in acc.get_ylabel() and acc.get_xlabel() == "epoch"
    lines = {ln.get_label(): ln for ln in acc.get_lines()}
    assert list(lines["float"].get_ydata()) == pytest.approx([60, 80, 90])   # in %, not 0-1
    assert lines["float"].get_color() == report.FLOAT_COLOR
    assert lines["memristive"].get_color() != report.FLOAT_COLOR
    fig.canvas.draw()
    for ax in (acc, loss):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)    # whole epochs only
        assert ax.get_legend() is None                               # no legend over curves
    assert len(fig.legends) == 1


def test_sweep_lines_in_percent_with_a_title(figures, tmp_path):
    report.plot_lines(tmp_path / "s.png", {"coincidence": ([0, 1, 2], [0.9, 0.8, 0.7],
                                                           [0.01, 0.02, 0.01]),
                                           "float": ([0, 1, 2], [0.95, 0.95, 0.95], None)},
                      "c2c σ", "test accuracy")
    (fig,) = figures
    (ax,) = fig.axes
    assert ax.get_ylabel() == "test accuracy (%)" and ax.get_title()
    ys = [list(ln.get_ydata()) for ln in ax.get_lines() if len(ln.get_ydata()) == 3]
    assert [90, 80, 70] in [[round(v) for v in y] for y in ys]
    assert ax.get_legend() is None and len(fig.legends) == 1
