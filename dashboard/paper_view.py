"""The Paper page's comparisons drawn from the stored runs: test errors against the paper's,
and what each variant changed since 1998 beside its best stored accuracy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from formatting import format_duration
from layout import chart
from lenet import plots
from lenet.analysis.paper import CHANGES, PAPER_TEST_ERROR, PAPER_TEST_ERROR_DISTORTED
from lenet.models import VARIANTS, LeNet5, count_parameters
from lenet.runs.ladder import QUICK_EPOCHS, STEPS
from navigation import link

__all__ = ["error_section", "changes_table", "ladder_section"]


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


def _steps_table(record: dict | None) -> pd.DataFrame:
    """Every step: its change, what it is, the network it trains and, once measured, its test
    error (the seeds' mean, and their range when there are several)."""
    measured = {row["key"]: row for row in (record or {}).get("steps", [])}
    rows = []
    for i, step in enumerate(STEPS):
        row = measured.get(step.key, {})
        error = row.get("mean_error")
        spread = row.get("spread") or []
        text = "—" if error is None else f"{error:.2f} %"
        if error is not None and len(row.get("test_error", [])) > 1:
            text += f" ({spread[0]:.2f}–{spread[1]:.2f})"
        rows.append({"step": i, "change": step.change, "test error": text,
                     "network": row.get("variant", "—"), "what it is": step.why})  # fmt: skip
    return pd.DataFrame(rows)


def _show_steps(table: pd.DataFrame) -> None:
    st.table(table.set_index("step"))  # a table, not a grid: its sentences wrap


def ladder_section(record: dict | None) -> None:
    """The measured ladder (``lenet.runs.ladder``) as a waterfall whose bars open their runs,
    and the steps as a table; without one, the steps and how to measure them."""
    if record is None or all(row.get("mean_error") is None for row in record["steps"]):
        st.info(
            "No ladder has been measured in this runs folder yet. On the server, "
            "`python -m lenet ladder --quick` trains the ten steps below one after another, "
            f"{QUICK_EPOCHS} passes each (about 6 minutes on two cores; without `--quick`, "
            "the paper's 20 passes), and stores each as a run: its bars appear here."
        )
        _show_steps(_steps_table(None))
        return
    steps = record["steps"]
    event = chart(plots.ladder_figure(steps, PAPER_TEST_ERROR), key="pp_ladder",
                  on_select="rerun", selection_mode="points")  # fmt: skip
    seeds = record.get("seeds", 1)
    seconds = sum(sum(row.get("seconds", [])) for row in steps)
    state = (
        "" if record.get("finished") else " It has not finished: the steps after these are missing."
    )
    st.caption(
        f"Each step trains the network of the one above with one change, {record['epochs']} "
        f"passes over the 60,000 training digits, {seeds} seed{'s' * (seeds != 1)} per step "
        f"({format_duration(seconds)} of training in all). A bar runs from the step before's "
        "test error to its own: green where the change lowered it, red where it raised it. "
        + (
            "A dash marks each seed: where they overlap, the change is within the noise."
            if seeds > 1
            else "With one seed per step a small difference may be the seed's "
            "doing; `--seeds 3` measures it."
        )
        + f"{state} Click a bar to open its run."
    )
    picked = [p.get("customdata") for p in (event.selection.points if event else [])]
    for index, _ in filter(None, picked):
        row = steps[index]
        st.markdown(f"**Step {row['step']}: {row['change']}** — network `{row['variant']}`")
        for run_id, present in zip(row["runs"], row.get("present", []), strict=False):
            if present:
                link("runs", label=f"Open run {run_id}", query_params={"run": run_id})
            else:
                st.caption(f"Run {run_id} has been deleted; its number stays in the ladder.")
    _show_steps(_steps_table(record))
