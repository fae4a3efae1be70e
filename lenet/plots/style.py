"""One palette and layout for every figure, so pages and notebooks look like one product."""

from __future__ import annotations

COLORS = {
    "train": "#2563eb",  # blue
    "test": "#ea580c",  # orange: distinguishable from blue for colour-blind viewers
    "top3": "#9333ea",
    "correct": "#16a34a",
    "wrong": "#dc2626",
    "muted": "#64748b",
    "text": "#1e293b",
    "conv": "#2563eb",
    "pool": "#0d9488",
    "fc": "#7c3aed",
    "cycle": [
        "#2563eb",
        "#ea580c",
        "#16a34a",
        "#9333ea",
        "#dc2626",
        "#0d9488",
        "#ca8a04",
        "#db2777",
    ],
}
DIVERGING = "RdBu_r"  # weights and activations: blue negative, red positive, white at zero
SEQUENTIAL = "Viridis"
GRAY = "gray"


def base_layout(height: int, title: str | None = None) -> dict:
    """Common layout: white background, legend on top, compact margins, readable fonts."""
    return dict(
        height=height,
        template="plotly_white",
        title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
        margin=dict(l=55, r=15, t=45 if title else 15, b=45),
        legend=dict(
            orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=12)
        ),
        font=dict(size=13, color=COLORS["text"]),
        hovermode="closest",
    )
