"""Every page of the dashboard, written down once: the router (``Home.py``) builds the menu from
this list, the Home page shows it as cards, and pages link to each other through it."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

__all__ = ["PageInfo", "PAGES", "LIVE_PAGES", "streamlit_pages", "link"]


@dataclass(frozen=True)
class PageInfo:
    file: str  # relative to dashboard/, where Home.py is
    title: str
    icon: str
    url_path: str  # the address: /Train, /Feature_maps, ...
    blurb: str  # one line on the Home page


PAGES: dict[str, PageInfo] = {
    "home": PageInfo(
        "views/home.py",
        "Home",
        ":material/home:",
        "",
        "LeNet-5 in a few lines, its layers, the data.",
    ),
    "train": PageInfo(
        "views/train.py",
        "Train",
        ":material/model_training:",
        "Train",
        "Train LeNet-5 live: lessons, curves, pause, change the learning rate.",
    ),
    "runs": PageInfo(
        "views/runs.py",
        "Runs",
        ":material/folder_open:",
        "Runs",
        "Every run: compare curves, export or import a zip, delete.",
    ),
    "feature_maps": PageInfo(
        "views/feature_maps.py",
        "Feature maps",
        ":material/layers:",
        "Feature_maps",
        "What each layer sees in one digit, C1 to OUTPUT.",
    ),
    "kernels": PageInfo(
        "views/kernels.py",
        "Kernels",
        ":material/grid_on:",
        "Kernels",
        "The learned 5×5 filters and how they evolve.",
    ),
    "health": PageInfo(
        "views/health.py",
        "Health",
        ":material/monitor_heart:",
        "Health",
        "Saturated and dead units, layer by layer, epoch by epoch.",
    ),
    "our_digits": PageInfo(
        "views/our_digits.py",
        "Our digits",
        ":material/draw:",
        "Our_digits",
        "The class's own handwriting: does it read us as well as MNIST?",
    ),
    "predictions": PageInfo(
        "views/predictions.py",
        "Predictions",
        ":material/target:",
        "Predictions",
        "All 10,000 test digits: filter the mistakes, click the confusion matrix.",
    ),
    "paper": PageInfo(
        "views/paper.py",
        "Paper",
        ":material/description:",
        "Paper",
        "The 1998 network and recipe, side by side with the paper.",
    ),
    "class": PageInfo(
        "views/class.py",
        "Class",
        ":material/groups:",
        "Class",
        "Who is here and what each trains: the class's runs as one sweep.",
    ),
}

# The pages that show the class's runs: they redraw when a run starts, ends or moves.
LIVE_PAGES = ("Train", "Runs", "Class")


def streamlit_pages() -> list:
    """The ``st.Page`` of every page, Home first and the default."""
    return [
        st.Page(
            p.file, title=p.title, icon=p.icon, url_path=p.url_path or None, default=name == "home"
        )
        for name, p in PAGES.items()
    ]


def link(name: str, label: str | None = None, query_params: dict | None = None) -> None:
    """A link to one of ``PAGES`` (optionally opening it on ``query_params``)."""
    page = PAGES[name]
    st.page_link(page.file, label=label or page.title, icon=page.icon, query_params=query_params)
