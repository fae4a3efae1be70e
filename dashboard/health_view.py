"""The network's health on a page: the live chart of saturated or dead units that the Train page
shows under its curves, and the parts of the Health page (a chosen epoch's cards, what to look
for, the records read once per run and epoch list)."""

from __future__ import annotations

import streamlit as st

import services
from layout import chart
from lenet import plots
from lenet.analysis.health import PROBE_SIZE, SATURATED_AT
from lenet.models.paper import A

__all__ = [
    "records",
    "latest",
    "words",
    "health_chart",
    "explain",
    "epoch_cards",
    "same_everywhere",
]


@st.cache_data(max_entries=32, show_spinner="Reading the health of every epoch…")
def records(run_id: str, epochs: tuple[int, ...]) -> dict[int, dict]:
    """``Run.health()``, cached per run and stored epochs (a new epoch invalidates it)."""
    return services.store().get(run_id).health()


def latest(batches: list[dict]) -> dict:
    """The newest live measurement among "batch" events: {measure: {layer: share}}, or {}."""
    return next((b["health"] for b in reversed(batches) if b.get("health")), {})


def words(shares: dict, limit: int = 3) -> str:
    """The layers with the largest shares, largest first, as "F6 34 %, C5 8 %, C1 5 %"."""
    ranked = sorted(shares.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return ", ".join(f"{name} {100 * share:.0f} %" for name, share in ranked)


def explain(measure: str, record: dict | None = None, short: bool = False) -> str:
    """What ``measure`` counts and what to look for, with the record's own threshold and
    probe; ``short``: in two sentences, for the Train page."""
    if measure == "dead":
        probe = (record or {}).get("probe", {}).get("first", PROBE_SIZE)
        if short:
            return (
                "Units that output zero for every probe digit: no gradient flows back through "
                "them, so nothing revives them. Some are normal: the Race to 99 % ends with up "
                "to about a quarter of F6 dead."
            )
        return (
            f"A **dead** ReLU unit outputs zero for every one of the {probe} probe digits: no "
            "gradient flows back through it, so nothing revives it. Some are normal: the Race "
            "to 99 % lesson (ReLU) ends with up to about a quarter of F6 dead and still reads "
            "99 % of the test digits; a learning rate far too high can kill most of a layer "
            "within a few steps."
        )
    at = (record or {}).get("saturated_at", SATURATED_AT)
    bounds = {layer["bound"] for layer in (record or {}).get("layers", {}).values()}
    bounds = sorted(b for b in bounds if b) or [1.0, A]
    ends = " or ".join(f"±{b:g}" for b in bounds)
    beyond = ", ".join(f"|a| > {at * b:.3g} of ±{b:g}" for b in bounds)
    if short:
        return (
            f"Outputs beyond {at:.0%} of the range ({beyond}), where tanh is flat and almost no "
            f"gradient flows back. A trained F6 can have half its outputs there; a layer that "
            f"fills within a few batches (a learning rate far too high) is pinned at {ends}."
        )
    return (
        f"A **saturated** tanh unit outputs more than {at:.0%} of its range ({beyond}): the "
        "curve is flat there, so almost no gradient flows back and its weights stop learning. "
        "Some saturation comes with learning: in a good-defaults run C1 and C3 stay around a "
        "tenth, while F6 ends with more than half of its outputs there, units that have made "
        "up their minds. Trouble is a layer filling up at once: with a learning rate far too "
        f"high the weights blow up within a few batches and the units are pinned at the ends, "
        f"{ends}, as the loss explodes."
    )


def health_chart(curves, key: str, live: bool = True) -> None:
    """Under the Train page's curves: each layer's live saturated (tanh) or dead (ReLU) share,
    measured by the trainer every two seconds (``live``: the run is training now); nothing
    for runs from before it did."""
    now = latest(curves.batches)
    if not now:
        return
    left, right = st.columns([2, 1], vertical_alignment="center")
    fig = plots.live_health_figure(
        curves.batches, curves.steps_per_epoch, curves.marks, height=250,
        x_max=curves.planned_epochs,
    )  # fmt: skip
    with left:
        chart(fig, key=f"health_{key}")
    with right:
        when = "now" if live else "at the end"
        for measure, shares in now.items():
            st.markdown(f"**{plots.MEASURE_WORDS.get(measure, measure)} {when}:** {words(shares)}")
        st.caption(explain(next(iter(now)), short=True))


def epoch_cards(record: dict, before: dict | None) -> None:
    """One card per layer: its share at the chosen epoch, and the change from the epoch
    before (red when more units saturate or die)."""
    layers = [
        (name, layer) for name, layer in record["layers"].items() if layer["share"] is not None
    ]
    for col, (name, layer) in zip(st.columns(max(len(layers), 1)), layers, strict=False):
        old = ((before or {}).get("layers", {}).get(name) or {}).get("share")
        change = None if old is None else round(100 * (layer["share"] - old), 1)
        delta = f"{change:+.1f} pts" if change else None  # no arrow for no change
        col.metric(
            f"{name} {layer['measure']}",
            f"{100 * layer['share']:.1f} %",
            delta,
            delta_color="inverse",
            help=f"{layer['units']:,} units per digit",
        )


def same_everywhere(record: dict) -> list[str]:
    """Layers whose units all give one and the same output for every probe digit."""
    return [
        name
        for name, layer in record["layers"].items()
        if layer["activations"]["std"] is not None and layer["activations"]["std"] < 1e-7
    ]
