"""The convolution, animated (the Feature maps page's C1 tab): what the server sends, checked
against PyTorch's own convolution and the forward pass for every variant; the page in AppTest;
and in Chromium, Play filling the map in the browser with the very sums the server computed.

The payload's size and the page's server time are printed (run with -s to see them), not
asserted beyond a generous size budget: they depend on the digit and the machine.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
import torch.nn.functional as F

import app_utils
from browser_utils import (
    SCREENSHOT_DIR,
    VIEWPORT,
    assert_no_exception,
    open_app,
    screenshot,
    wait_for_streamlit_idle,
    wait_until,
)
from conv_animation import animation_data, payload_bytes
from lenet import explain_unit
from lenet.analysis.introspection import activations
from lenet.data import load_split, to_model_input
from lenet.models import build_model, normalization_of
from lenet.models.paper import squash
from lenet.runs import RunStore
from lenet.training import TrainConfig, train

ACTIVATIONS = {"classic": ("tanh", torch.tanh), "modern": ("ReLU", torch.relu),
               "paper": ("squash", squash)}  # fmt: skip
SENT = 1e-4  # the payload's rounding (4 decimals) and float32's, with room to spare
PRINTED = 5e-4 + 1e-4  # half a unit of the page's third decimal, plus what was sent rounded
BUDGET = 32_000  # bytes: the input, the kernel and the map before and after its activation


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A runs folder with one trained classic run (2,000 images, 1 epoch)."""
    root = tmp_path_factory.mktemp("runs")
    result = train(
        TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1), store=RunStore(root)
    )
    assert result.status == "finished"
    return root


def _digit(index: int, variant: str) -> torch.Tensor:
    raw = load_split("test").raw[index].numpy()
    return to_model_input(raw, normalization_of(variant))  # (1, 1, 32, 32)


def _acts(model, x) -> dict:
    return {name: a[0].numpy() for name, a in activations(model, x).items()}


def _grid(values: list[float], side: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(side, side)


# ------------------------------------------------------------------------------ the payload
@pytest.mark.parametrize("variant", ["classic", "modern", "paper"])
def test_the_sums_sent_are_pytorchs_convolution_and_become_the_forward_pass(variant):
    init = "paper" if variant == "paper" else "xavier"
    model = build_model(variant, init, seed=7).eval()
    x = _digit(42, variant)
    conv = model.C1.conv
    reference = F.conv2d(x, conv.weight, conv.bias)[0].double()  # (6, 28, 28)
    forward = activations(model, x)["C1"][0].double()
    name, act = ACTIVATIONS[variant]
    for m in (0, 5):
        data = animation_data(model, x, _acts(model, x), m)
        assert data["map"] == m and data["activation"] == name
        assert (data["rows"], data["cols"], data["size"], data["input_side"]) == (28, 28, 5, 32)
        pre, post = _grid(data["pre"], 28), _grid(data["post"], 28)
        torch.testing.assert_close(pre, reference[m], atol=SENT, rtol=0)
        torch.testing.assert_close(post, forward[m], atol=SENT, rtol=0)
        torch.testing.assert_close(act(pre), post, atol=5 * SENT, rtol=0)
        torch.testing.assert_close(_grid(data["input"], 32), x[0, 0].double(), atol=SENT, rtol=0)
        torch.testing.assert_close(_grid(data["kernel"], 5), conv.weight[m, 0].double(),
                                   atol=SENT, rtol=0)  # fmt: skip
        assert data["bias"] == pytest.approx(float(conv.bias[m].detach()), abs=SENT)
        for r, c in ((0, 0), (27, 27), (13, 9)):  # the unit panel's arithmetic agrees
            got = explain_unit(model, x, "C1", (m, r, c))
            assert data["pre"][28 * r + c] == pytest.approx(got["pre_activation"], abs=SENT)
        size = payload_bytes(data)
        print(f"\n{variant} map {m}: payload {size:,} bytes of JSON")
        assert size < BUDGET


def test_a_model_with_values_that_are_not_numbers_sends_nothing():
    model = build_model("classic", seed=1).eval()
    with torch.no_grad():
        model.C1.conv.weight[2, 0, 1, 1] = float("nan")
    x = _digit(0, "classic")
    assert animation_data(model, x, _acts(model, x), 2) is None
    assert animation_data(model, x, _acts(model, x), 1) is not None  # map 1 is untouched


# ------------------------------------------------------------------------------ AppTest
def _component_data(at) -> list[dict]:
    return [json.loads(c.proto.json) for c in at.get("bidi_component")]


def test_the_c1_tab_plays_the_chosen_kernel_only_once_asked(trained, use_runs):
    use_runs(trained)
    at = app_utils.open_page("feature_maps", default_timeout=90).run()
    assert not at.exception
    assert _component_data(at) == []  # nothing computed or sent until the toggle is on
    at.toggle(key="fm_conv_on").set_value(True).run()
    assert not at.exception
    (data,) = _component_data(at)
    model = RunStore(trained).get(RunStore(trained).list()[0].id).load_model()
    x = load_split("test").images[0:1]  # the page's first digit: test image #0
    forward = activations(model, x)["C1"][0].double()
    assert data["map"] == 0 and data["activation"] == "tanh"
    torch.testing.assert_close(_grid(data["post"], 28), forward[0], atol=SENT, rtol=0)
    assert any("Play, Step and Reset run in your browser" in c.value for c in at.caption)

    at.segmented_control(key="fm_conv_map").set_value(4).run()
    assert not at.exception
    (data,) = _component_data(at)
    assert data["map"] == 4
    torch.testing.assert_close(_grid(data["kernel"], 5), model.C1.conv.weight[4, 0].double(),
                               atol=SENT, rtol=0)  # fmt: skip
    torch.testing.assert_close(_grid(data["post"], 28), forward[4], atol=SENT, rtol=0)

    at.session_state["fm_tab"] = "S2 · 6×14×14"  # another tab: the animation is not drawn
    at.run()
    assert not at.exception and _component_data(at) == []


@pytest.mark.parametrize(
    "variant, label, note",
    [("modern", "ReLU", "ReLU keeps a positive sum"), ("paper", "squash", "1.7159·tanh(0.6667·a)"),
     ("diverged", None, "can't be played back")],
)  # fmt: skip
def test_each_network_names_its_own_activation_and_a_diverged_one_is_told(
    tmp_path, use_runs, variant, label, note
):
    store = RunStore(tmp_path / variant)
    init = "paper" if variant == "paper" else "default"
    config = TrainConfig(variant="classic" if variant == "diverged" else variant, init=init)
    model = build_model(config.variant, init, seed=2)
    if variant == "diverged":
        with torch.no_grad():
            model.C1.conv.weight.fill_(float("nan"))
    run = store.create(config.__dict__)
    run.save_epoch(0, model, None, config, None)  # a checkpoint is all the page needs
    run.finish("finished")
    use_runs(tmp_path / variant)
    at = app_utils.open_page("feature_maps", default_timeout=90).run()
    at.toggle(key="fm_conv_on").set_value(True).run()
    assert not at.exception
    shown = " ".join(e.value for e in [*at.caption, *at.info])
    assert note in shown
    if label is None:
        assert _component_data(at) == []
    else:
        assert _component_data(at)[0]["activation"] == label


# ------------------------------------------------------------------------------ Chromium
@pytest.fixture(scope="module")
def app(streamlit_app, trained):
    """The module's server, with the trained run in its runs folder."""
    for run in trained.iterdir():
        if RunStore.valid_id(run.name):
            shutil.copytree(run, streamlit_app.runs_dir / run.name)
    return streamlit_app


def _errors(page) -> list[str]:
    """Console errors, less the 404s of Streamlit probing `<page path>/_stcore/...` when a page
    URL is opened directly (it then finds the server at the root; nothing is broken)."""
    return [e for e in page.console_errors if not ("404" in e and "/_stcore/" in e)]


def _filled(animation) -> int:
    return int(animation.get_attribute("data-filled"))


def _shown(page) -> dict:
    """What the animation shows now: its position and the sum as printed."""
    position = page.locator('[data-testid="conv-position"]')
    row, col = int(position.get_attribute("data-row")), int(position.get_attribute("data-col"))
    assert position.inner_text() == f"position ({row}, {col}) of 28×28"
    sum_line = page.locator('[data-testid="conv-sum"]')
    printed = {k: sum_line.get_attribute(f"data-{k}") for k in ("sum", "bias", "pre", "value")}
    text = sum_line.inner_text()
    assert re.search(
        rf"Σ of the 25 products = {re.escape(printed['sum'])} \+ bias "
        rf"{re.escape(printed['bias'])} = {re.escape(printed['pre'])}\s+→ tanh → "
        rf"{re.escape(printed['value'])}: the map's value at \({row}, {col}\)",
        text,
    ), text
    return {"row": row, "col": col, **{k: float(v) for k, v in printed.items()}}


def _assert_servers(shown: dict, model, x, m: int) -> None:
    """The printed sum, bias, pre-activation and value are the model's, to the printed digit."""
    conv = model.C1.conv
    r, c = shown["row"], shown["col"]
    with torch.no_grad():
        pre = float(F.conv2d(x, conv.weight, conv.bias)[0, m, r, c])
        bias = float(conv.bias[m])
        value = float(activations(model, x)["C1"][0, m, r, c])
    expected = {"sum": pre - bias, "bias": bias, "pre": pre, "value": value}
    for name, want in expected.items():
        assert shown[name] == pytest.approx(want, abs=PRINTED), (name, shown, expected)


def test_play_fills_the_map_in_the_browser_with_the_servers_sums(page, app):
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 1800})
    open_app(page, f"{app.url}/Feature_maps?sample=42")
    page.locator('[data-testid="stMetric"]').first.wait_for()
    page.get_by_text("Watch the convolution").click()
    wait_for_streamlit_idle(page)
    animation = page.locator('[data-testid="conv-animation"]')
    animation.wait_for()
    assert_no_exception(page)
    print(f"\n{page.get_by_text('Server time for this update').inner_text()} (toggle on)")
    model = RunStore(app.runs_dir).get(RunStore(app.runs_dir).list()[0].id).load_model()
    x = load_split("test").images[42:43]
    start = _shown(page)
    assert (start["row"], start["col"], _filled(animation)) == (0, 0, 1)
    _assert_servers(start, model, x, 0)

    # The three panels side by side, inside the page's width.
    boxes = [p.bounding_box() for p in animation.locator("section.panel").all()]
    assert len(boxes) == 3 and len({round(b["y"]) for b in boxes}) == 1, boxes
    assert animation.evaluate("el => el.scrollWidth <= el.clientWidth")
    animation.scroll_into_view_if_needed()
    screenshot(page, "conv_animation_start")

    page.locator('[data-testid="conv-play"]').click()
    wait_until(lambda: _filled(animation) > 60, timeout=30, what="the map to fill in")
    page.locator('[data-testid="conv-play"]').click()  # pause
    paused = _filled(animation)
    shown = _shown(page)
    assert 28 * shown["row"] + shown["col"] == paused - 1 > 60
    _assert_servers(shown, model, x, 0)
    page.wait_for_timeout(300)
    assert _filled(animation) == paused  # paused means paused
    page.locator('[data-testid="conv-step"]').click()
    assert _filled(animation) == paused + 1
    _assert_servers(_shown(page), model, x, 0)

    # Row by row to the middle of the digit, then to the end.
    page.locator('[data-testid="conv-speed-rows"]').click()
    page.locator('[data-testid="conv-play"]').click()
    wait_until(lambda: _filled(animation) > 28 * 13, timeout=30, what="row 13")
    page.locator('[data-testid="conv-play"]').click()
    _assert_servers(_shown(page), model, x, 0)
    screenshot(page, "conv_animation_playing")
    animation.screenshot(path=str(SCREENSHOT_DIR / "conv_animation_playing_panel.png"))
    page.locator('[data-testid="conv-play"]').click()
    wait_until(lambda: _filled(animation) == 28 * 28, timeout=30, what="the whole map")
    assert page.locator('[data-testid="conv-play"]').inner_text() == "↻ Play again"
    _assert_servers(_shown(page), model, x, 0)
    screenshot(page, "conv_animation_finished")
    page.locator('[data-testid="conv-reset"]').click()
    assert _filled(animation) == 1

    # Another kernel (a Streamlit widget): new numbers arrive, the animation starts over.
    page.locator('[data-testid="stButtonGroup"]').get_by_text("map 3", exact=True).click()
    wait_for_streamlit_idle(page)
    page.locator('[data-testid="conv-animation"] h4').filter(has_text="C1 map 3").wait_for()
    page.locator('[data-testid="conv-step"]').click()
    shown = _shown(page)
    assert (shown["row"], shown["col"]) == (0, 1)
    _assert_servers(shown, model, x, 3)

    # A narrower window: the pictures shrink, then the panels wrap; nothing scrolls sideways.
    page.set_viewport_size({"width": 900, "height": 1800})
    page.wait_for_timeout(300)
    assert animation.evaluate("el => el.scrollWidth <= el.clientWidth")
    screenshot(page, "conv_animation_narrow")
    assert_no_exception(page)
    assert _errors(page) == []
