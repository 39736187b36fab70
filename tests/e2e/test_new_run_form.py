"""New run form: errors land beside their fields, quick fills and the LR preview work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from live_server import Server
from playwright.sync_api import Browser, Page, expect


def test_an_invalid_epoch_count_is_reported_beside_epochs(page: Page, server: Server, screenshot: Callable) -> None:
    before = server.api.get("/api/runs").json()["total"]
    page.goto("/runs/new")
    page.get_by_label("Epochs", exact=True).fill("0")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#err-epochs")).to_contain_text("greater than or equal to 1")
    expect(page.get_by_label("Epochs", exact=True)).to_have_attribute("aria-invalid", "true")
    screenshot(page, "new_run_error")
    assert server.api.get("/api/runs").json()["total"] == before


def test_a_negative_stage_lr_is_reported_in_its_row(page: Page) -> None:
    page.goto("/runs/new")
    page.locator('[name="stages.conv2.value"]').fill("-1")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#err-stages-conv2")).to_contain_text("greater than or equal to 0")
    expect(page.locator("#err-stages-conv3")).to_be_empty()


LINES = "document.getElementById('lr-preview').data.filter(t => t.type === 'scatter')"


def _preview_first_lrs(page: Page) -> dict[str, float]:
    """The plotted LR of each line (stages with equal schedules share one) at the first epoch, read from the chart."""
    return page.evaluate(f"() => Object.fromEntries(({LINES}).map(t => [t.name, t.y[0]]))")


def test_model_d_quick_fill_sets_stage_lrs_and_the_preview_plots_them(
    page: Page, screenshot: Callable
) -> None:
    page.goto("/runs/new")
    page.get_by_role("button", name="Model D").click()
    expect(page.locator('[name="stages.conv4.value"]')).to_have_value("0.001")
    page.wait_for_function(
        "() => { const d = document.getElementById('lr-preview').data;"
        " return d && d.length === 3 && d[2].y[0] === 0.1 && d[0].y[0] === 0.0001; }"
    )
    # Stages with the same schedule are one line named after all of them, not lines hidden under each other.
    assert _preview_first_lrs(page) == {"conv1, conv2, conv3": 1e-4, "conv4, conv5": 1e-3, "classifier": 0.1}
    expect(page.locator("#plan-summary")).to_contain_text("parameters train")
    screenshot(page, "new_run")


def test_quick_fills_work_from_the_keyboard(page: Page) -> None:
    page.goto("/runs/new")
    page.get_by_role("button", name="Same LR everywhere").focus()
    page.keyboard.press("Enter")
    expect(page.locator('[name="stages.conv1.value"]')).to_have_value("0.01")
    page.keyboard.press("Tab")  # the next quick fill
    page.keyboard.press("Enter")
    expect(page.locator('[name="stages.conv1.value"]')).to_have_value("0.00001")


def test_a_frozen_stage_is_marked_frozen_in_the_preview(page: Page) -> None:
    page.goto("/runs/new")
    page.locator('[name="stages.conv1.frozen"]').check()
    page.wait_for_function(
        "() => { const d = document.getElementById('lr-preview').data; return d && d[0].y.every(v => v === null); }"
    )
    strips = page.evaluate("() => document.getElementById('lr-preview').data.filter(t => t.type === 'bar').map(t => t.text)")
    assert strips == [["conv1 frozen"]]  # a hatched strip over every epoch, not only a gap
    expect(page.locator("#plan-summary")).not_to_contain_text("(100.0%)")


def test_a_warm_up_is_drawn_as_a_ramp_and_a_late_stage_from_its_first_epoch(page: Page, screenshot: Callable) -> None:
    page.goto("/runs/new")
    page.get_by_label("Epochs", exact=True).fill("4")
    page.get_by_label("Warm-up epochs").fill("1")
    page.locator('[name="stages.conv5.unfreeze_epoch"]').fill("3")  # trains from the third epoch
    page.wait_for_function(f"() => ({LINES}).some(t => t.name === 'conv5')")
    lines = page.evaluate(f"() => Object.fromEntries(({LINES}).map(t => [t.name, {{x: t.x, y: t.y}}]))")
    head = lines["conv1, conv2, conv3, conv4, classifier"]  # all at the base LR: one line
    first_epoch = [y for x, y in zip(head["x"], head["y"], strict=True) if x < 1.5 and y is not None]
    assert len(first_epoch) > 3 and first_epoch == sorted(first_epoch) and first_epoch[-1] < 0.01  # a ramp
    conv5 = lines["conv5"]
    assert min(x for x, y in zip(conv5["x"], conv5["y"], strict=True) if y is not None) == 2.5  # epoch 3 starts at 2.5
    strips = page.evaluate("() => document.getElementById('lr-preview').data.filter(t => t.type === 'bar').map(t => t.hovertemplate)")
    assert strips == [["conv5 frozen in epochs 1–2<extra></extra>"]]
    screenshot(page, "new_run_warmup_preview")


def test_without_javascript_the_server_shows_the_error_beside_the_field(browser: Browser, server: Server) -> None:
    context = browser.new_context(base_url=server.base_url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/runs/new")
    page.get_by_label("Batch size", exact=True).fill("0")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#err-batch_size")).to_contain_text("greater than or equal to 1")
    context.close()


def test_clone_fills_the_form_with_the_runs_stage_lrs(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    source = finished_runs[0]
    page.goto("/")
    page.get_by_role("link", name=f"clone run {source['id']}").click()
    expect(page.get_by_label("Run name", exact=True)).to_have_value(f"{source['name']} (copy)")
    expect(page.locator('[name="stages.conv4.value"]')).to_have_value("0.001")
    expect(page.locator('[name="stages.classifier.value"]')).to_have_value("0.1")



def test_an_earlier_runs_checkpoint_can_be_the_starting_weights(
    page: Page, finished_runs: list[dict[str, Any]]
) -> None:
    weights = f"run:{finished_runs[0]['id']}"
    page.goto("/runs/new")
    # The preview validates like a submit: the service resolves run:<id> to its best.pt.
    sent = f"weights={quote(weights, safe='')}"
    with page.expect_response(lambda r: "/runs/new/plan" in r.url and sent in (r.request.post_data or "")) as plan:
        page.get_by_label("Starting weights").select_option(weights)
    assert plan.value.status == 200
    expect(page.locator("#err-weights")).to_be_empty()
