"""The page geometry the figures are sized for, and how every chart is shown.

Widths are Streamlit's wide layout at the 1,400-pixel window a classroom projector (and the
browser tests) use; figures take them as their ``width`` so their heights fit the content.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["PAGE_WIDTH", "DIALOG_WIDTH", "chart"]

PAGE_WIDTH = 1150  # px a wide-layout page gives a full-width chart
DIALOG_WIDTH = 720  # px inside a large dialog (the Predictions page's closer look)


def chart(fig, key: str | None = None, **kwargs):
    """``st.plotly_chart`` without Plotly's toolbar: a class clicks digits, not zoom buttons."""
    return st.plotly_chart(fig, key=key, config={"displayModeBar": False}, **kwargs)
