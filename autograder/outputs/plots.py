"""The batch at a glance, for the teacher: how the scores spread, and which units the class found hard."""

import matplotlib_fontja  # noqa: F401  (registers IPAexGothic for the Japanese labels, on Linux and Colab alike)
from matplotlib.figure import Figure  # no pyplot: no global backend or state is touched


def plot_batch(gradebook, path):
    """Draw the score histogram and each unit's share of points earned into the PNG at `path`."""
    scores = [100 * fraction for fraction in gradebook.score_fractions()]
    units = gradebook.unit_fractions()[::-1]  # barh draws bottom-up: the catalog's first unit ends on top
    figure = Figure(figsize=(12, max(4, 0.28 * len(units))))
    spread, by_unit = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    spread.hist(scores, bins=range(0, 101, 10), color="tab:blue", edgecolor="white")
    spread.set(title=f"得点の分布（{len(scores)} 件）", xlabel="得点率（%）", ylabel="提出数", xlim=(0, 100))
    shares = [100 * share for _, share in units]
    colors = ["tab:red" if share < 50 else "tab:orange" if share < 80 else "tab:green" for share in shares]
    by_unit.barh([unit for unit, _ in units], shares, color=colors)
    by_unit.set(title="ユニットごとの得点率（全提出の平均）", xlabel="得点率（%）", xlim=(0, 100))
    by_unit.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
