"""The Paper page's comparisons drawn from the stored runs: test errors against the paper's,
and what each variant changed since 1998 beside its best stored accuracy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from layout import chart
from lenet import plots
from lenet.analysis.paper import CHANGES, PAPER_TEST_ERROR, PAPER_TEST_ERROR_DISTORTED
from lenet.models import VARIANTS, LeNet5, count_parameters

__all__ = ["error_section", "changes_table"]


def _passes(n: int) -> str:
    return f"{n} pass{'es' * (n != 1)}"


def error_section(finished: list, best, best_distorted) -> None:
    """Cards for the paper and our best runs (plain and distorted), then one bar per run."""
    m1, m2, m3 = st.columns(3)
    m1.metric("Paper (20 passes, no distortions)", f"{PAPER_TEST_ERROR:.2f} %")
    for col, top, ref, what in (
        (m2, best, PAPER_TEST_ERROR, "Best reproduction"),
        (m3, best_distorted, PAPER_TEST_ERROR_DISTORTED, "With distortions"),
    ):
        if top is not None:
            error = 100 - top.best_test_acc
            col.metric(
                f"{what} ({_passes(top.epochs_done)}; paper {ref} %)",
                f"{error:.2f} %",
                delta=f"{error - ref:+.2f} points",
                delta_color="inverse",
            )
    bars = []
    for i in finished[:8]:  # newest first; more bars stop being readable
        distorted = " + distortions" if i.config.get("distort") else ""
        label = f"{i.id} · {i.config.get('recipe', '?')}{distorted} · {i.epochs_done} ep"
        bars.append((label, 100 - i.best_test_acc))
    chart(plots.error_vs_paper_figure(bars, PAPER_TEST_ERROR), key="pp_error")
    st.caption(
        "Best test error of each stored paper-variant run (newest first). The paper trained "
        "20 passes of one pattern per update (0.8 % when each pass saw randomly distorted "
        "digits); 'paper-fast' updates once per mini-batch."
    )


def changes_table(best: dict) -> pd.DataFrame:
    """One row per stage (activation, pooling, C3, output, loss, optimizer), then parameters
    and the best stored test accuracy; one column per variant."""

    def best_text(v: str) -> str:
        info = best.get(v)
        if info is None:
            return "—"
        return f"{info.best_test_acc:.2f} % after {info.epochs_done} epoch" + "s" * (
            info.epochs_done != 1
        )

    columns = [v for v in ("paper", "classic", "modern") if v in VARIANTS]
    rows = dict(CHANGES)
    rows["parameters"] = {v: f"{count_parameters(LeNet5(v)):,}" for v in columns}
    rows["best stored test accuracy"] = {v: best_text(v) for v in columns}
    return pd.DataFrame(rows).T.rename_axis("stage").reset_index()
