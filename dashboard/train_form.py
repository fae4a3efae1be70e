"""The Train page's form, without Streamlit: the learning-rate ladder, the fields a person
sets, which preset a configuration is, and how long a preset takes here."""

from __future__ import annotations

import math

from formatting import format_duration, median_duration, plural
from lenet.training import TYPICAL_SECONDS, lesson_of

__all__ = [
    "LR_CHOICES",
    "nearest_lr",
    "FORM_FIELDS",
    "preset_duration",
    "describe",
    "choose_run",
]

# A 1-2-3-5 ladder: even steps on a log axis, and every preset's rate is on it.
LR_CHOICES: tuple[float, ...] = tuple(
    float(f"{m}e{e}") for e in range(-4, 1) for m in (1, 2, 3, 5)
) + (10.0,)

# The TrainConfig fields a person sets by hand (the rest come from the chosen preset).
FORM_FIELDS = (
    "variant",
    "recipe",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "schedule",
    "momentum",
    "weight_decay",
    "seed",
    "train_subset",
    "class_share",
    "init",
)


def nearest_lr(lr: float) -> float:
    """The ladder's value closest to ``lr`` on a log scale (the slider shows ladder values)."""
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        return 1e-2
    return min(LR_CHOICES, key=lambda c: abs(math.log(c) - math.log(lr)))


def preset_duration(name: str, infos: list) -> str:
    """How long the preset takes, in words: the median of this server's finished runs of it,
    else the time measured on the development machine (2 cores)."""
    mine = [i for i in infos if i.config and lesson_of(i.config) == name]
    seconds = median_duration(mine)
    if seconds is not None:
        return f"about {format_duration(seconds)} here (median of {plural(len(mine), 'run')})"
    return f"about {format_duration(TYPICAL_SECONDS[name])} on a 2-core machine"


def describe(config: dict) -> str:
    """A run's configuration in a few words: "classic · adam · lr 0.01" or, for the 1998
    recipes, which set their own step sizes, "paper · paper-fast recipe (SDLM, η per pass)"."""
    variant, recipe = config.get("variant", "?"), config.get("recipe", "standard")
    if recipe != "standard":
        return f"{variant} · {recipe} recipe (SDLM, η per pass)"
    return f"{variant} · {config.get('optimizer', '?')} · lr {config.get('lr', 0):g}"


def choose_run(
    linked: str | None, last: str | None, mine: list[str], spotlight: str | None, follow: bool
) -> tuple[str | None, str]:
    """Which run the Train page shows, and why: a run named in the address, else the one this
    browser last started or watched, else the newest of one's own queued or training runs,
    else (when following) the run the teacher spotlights. ("", "") means none."""
    if linked:
        return linked, "linked"
    if last:
        return last, "last"
    if mine:
        return mine[0], "mine"
    if follow and spotlight:
        return spotlight, "following"
    return None, ""
