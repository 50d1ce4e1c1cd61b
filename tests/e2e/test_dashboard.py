"""The dashboard in a real browser: scripts, actions, documents, prompts, cancel, the plugin manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scriptdeck.web.testing import DashboardServer

from .conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SQUARE = b"G28\nG1 Z0.2 F3000\nG1 X10 Y0 E1\nG1 X10 Y10 E2\nG1 X0 Y10 E3\nG1 Z0.4\nG1 X10 Y10 E4\n"
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40mm" height="40mm" viewBox="0 0 40 40">'
       b'<circle cx="20" cy="20" r="15"/><path d="M5 5 L35 5 L35 35"/></svg>')


def open_file(page: Any, name: str, data: bytes, mime: str = "text/plain") -> None:
    page.goto(page.url.split("#")[0] + "#document")
    page.set_input_files("#doc-file", files=[{"name": name, "mimeType": mime, "buffer": data}])


def run_status_steps(page: Any, pause: str) -> None:
    """Start the status_steps fixture script from the Scripts page, `pause` seconds between its steps."""
    page.click("#nav a[data-page=scripts]")
    page.click("[data-service=status_steps]")
    page.wait_for_selector("#script-title:text('Status steps')")
    page.fill("#script-panel input[name=pause]", pause)
    page.click("#script-run")


def test_run_an_automation_script_and_watch_its_status(page: Any) -> None:
    run_status_steps(page, "0.6")
    page.wait_for_selector("#script-status-text:text-matches('step [12] of 3')")
    assert page.is_disabled("#script-run")
    shot(page, "scripts-running")
    page.wait_for_selector("#script-status .pill.finished", timeout=20_000)
    page.wait_for_timeout(500)  # the returned values are saved after Finished: the result must stay
    assert "last_steps" in page.inner_text("#script-result")
    assert "working on step 3" in page.inner_text("#script-log")
    shot(page, "scripts")


def test_bad_value_is_refused_in_the_browser(page: Any, server: DashboardServer) -> None:
    page.click("#nav a[data-page=scripts]")
    page.click("[data-service=status_steps]")
    page.fill("#script-panel input[name=steps]", "2.5")
    page.click("#script-run")
    assert "steps: expected an integer" in page.inner_text("[data-field=steps] .err")
    assert page.inner_text("#script-status").strip() == "idle"


def test_cancel_a_busy_script(page: Any) -> None:
    page.click("#nav a[data-page=scripts]")
    page.click("[data-service=busy_loop]")
    page.click("#script-run")
    page.wait_for_selector("#script-status .pill.running")
    page.wait_for_selector("#script-cancel:not([disabled])")
    page.click("#script-cancel")
    page.wait_for_selector("#script-status .pill.cancelled", timeout=10_000)
    assert "Cancelled" in page.inner_text("#script-result")


def test_action_dialog_changes_the_document_and_remembers_the_value(page: Any) -> None:
    open_file(page, "square.gcode", SQUARE)
    page.wait_for_selector("#doc-name:text('square.gcode')")
    page.click("#nav a[data-page=actions]")
    page.click("[data-service='PostProcess/search-and-replace']")
    dialog = page.wait_for_selector(".action-dialog")
    dialog.query_selector("input[name=find]").fill("^G28$")
    dialog.query_selector("input[name=replace]").fill("G28 X Y")
    shot(page, "actions-dialog")
    page.click(".action-dialog [data-role=run]")
    page.wait_for_selector("#action-doc :text('revision 1')", timeout=20_000)
    shot(page, "actions")
    page.click("[data-service='PostProcess/search-and-replace']")
    dialog = page.wait_for_selector(".action-dialog")
    assert dialog.query_selector("input[name=find]").input_value() == "^G28$"  # remembered
    page.keyboard.press("Escape")
    page.click("#nav a[data-page=document]")
    page.wait_for_selector("#doc-undo:not([disabled])")
    assert "Search and replace" in page.inner_text("#doc-undo")


def test_open_an_svg_through_the_format_plugin_and_see_the_preview(page: Any) -> None:
    open_file(page, "drawing.svg", SVG, "image/svg+xml")
    dialog = page.wait_for_selector(".format-dialog")  # the format's open settings
    assert dialog.query_selector("input[name]") is not None
    page.click(".format-dialog [data-role=ok]")
    page.wait_for_selector("#doc-name:text('drawing.gcode')", timeout=20_000)
    page.wait_for_selector("#layer-label:text-matches('1 / 1')")
    # Something was drawn: the canvas is not uniformly the background colour. Drawing happens
    # on an animation frame after the label changes, so wait for it rather than sample once.
    page.wait_for_function("""() => { const c = document.getElementById('preview');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i+1] > 80 && d[i+2] < 80) lit++;
        return lit > 100; }""", timeout=20_000)
    shot(page, "document")


def test_a_file_picked_before_the_format_list_came_still_goes_through_its_format(page: Any) -> None:
    def slow(route: Any) -> None:
        page.wait_for_timeout(800)  # the list comes after the file is picked
        route.continue_()

    page.route("**/api/document/formats", slow)
    open_file(page, "drawing.svg", SVG, "image/svg+xml")
    page.wait_for_selector(".format-dialog")  # not read as plain G-code
    page.keyboard.press("Escape")
    page.unroute("**/api/document/formats")


def test_answer_a_plugins_choose_option_in_the_browser(page: Any) -> None:
    open_file(page, "square.gcode", SQUARE)
    page.wait_for_selector("#doc-name:text('square.gcode')")
    page.click("#nav a[data-page=actions]")
    page.click("[data-service='Chooser/add-a-chosen-comment']")
    page.click(".action-dialog [data-role=run]")
    prompt = page.wait_for_selector(".modal.prompt", timeout=20_000)
    assert "Which comment?" in prompt.inner_text()
    page.click(".modal.prompt label:has-text('beta')")
    shot(page, "prompt")
    page.click(".modal.prompt [data-role=answer]")
    page.wait_for_selector(".toast :text('picked beta')", timeout=20_000)
    page.wait_for_selector("#action-doc :text('revision 1')")


def test_broken_plugin_error_in_the_plugin_manager(page: Any, server: DashboardServer) -> None:
    page.click("#nav a[data-page=plugins]")
    broken = page.wait_for_selector("[data-plugin=Broken]")
    assert broken.get_attribute("data-status") == "error"
    assert 'version: expected an integer, got "one"' in broken.inner_text()
    shot(page, "plugins")


def test_plugin_list_updates_when_files_change(page: Any, server: DashboardServer, tmp_path: Path) -> None:
    page.click("#nav a[data-page=plugins]")
    page.wait_for_selector("[data-plugin=Chooser]")
    (tmp_path / "plugins" / "fresh_script.py").write_text(
        '__script_id__ = "fresh_script"\n__script_title__ = "Fresh"\n'
        "class A:\n    def __init__(self, g, logger, settings):\n        pass\n"
        "    def run(self):\n        return True, {}\n__script_obj__ = A\n")
    page.wait_for_selector("[data-plugin=fresh_script]", timeout=15_000)
    page.click("#nav a[data-page=scripts]")
    page.wait_for_selector("[data-service=fresh_script]")


def hold_back_run_starts(page: Any) -> None:
    """The answer to POST /api/runs comes 4 s late: the run starts at once and its events
    (even its end) come over the stream first."""
    def late(route: Any) -> None:
        response = route.fetch()
        page.wait_for_timeout(4000)
        route.fulfill(response=response)

    page.route("**/api/runs", late)


def run_start_answered(page: Any) -> Any:
    """Waits (as a `with` block) for the held-back answer, so no route callback outlives the test."""
    return page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/runs"), timeout=20_000)


def test_a_run_that_ends_before_the_answer_to_its_start_still_shows_its_end(page: Any) -> None:
    hold_back_run_starts(page)
    with run_start_answered(page):
        run_status_steps(page, "0")
        # The page follows the run from its Started event: the end shows before the answer comes.
        page.wait_for_selector("#script-status .pill.finished", timeout=20_000)
    page.wait_for_timeout(300)  # the late answer (which says "running") must not replace the end
    assert page.is_visible("#script-status .pill.finished")
    page.unroute("**/api/runs")


def test_an_action_that_ends_before_the_answer_to_its_start_still_says_so(page: Any) -> None:
    open_file(page, "square.gcode", SQUARE)
    page.wait_for_selector("#doc-name:text('square.gcode')")

    hold_back_run_starts(page)
    page.click("#nav a[data-page=actions]")
    page.click("[data-service='PostProcess/search-and-replace']")
    dialog = page.wait_for_selector(".action-dialog")
    dialog.query_selector("input[name=find]").fill("^G28$")
    with run_start_answered(page):
        page.click(".action-dialog [data-role=run]")
        page.wait_for_selector(".toast :text('finished')", timeout=20_000)
    page.unroute("**/api/runs")


def test_machine_terminal_history_and_events_pages(page: Any) -> None:
    page.click("#nav a[data-page=machine]")
    page.wait_for_selector("#machine-state:text('ready')")
    page.fill("#terminal-input", "M114")
    page.click("#terminal-send")
    page.wait_for_selector("#terminal :text('M114')")
    page.fill("#terminal-input", "M104 S210")
    page.click("#terminal-send")
    page.fill("#terminal-input", "M140 S60")
    page.click("#terminal-send")
    page.wait_for_timeout(2500)  # a few temperature samples for the chart
    shot(page, "machine")
    run_status_steps(page, "0")
    page.wait_for_selector("#script-status .pill.finished", timeout=20_000)
    page.click("#nav a[data-page=history]")
    page.click("#history-table tr[data-run]")
    page.wait_for_selector("#history-detail :text('Status history')")
    assert "step 1 of 3" in page.inner_text("#history-detail")
    shot(page, "history")
    page.click("#history-rerun")
    page.wait_for_selector("#history-table tr[data-run] >> nth=1", timeout=20_000)
    page.click("#nav a[data-page=events]")
    page.wait_for_selector("#event-feed [data-event=AutomationScriptFinished]")
    shot(page, "events")


def start_slow_steps(page: Any) -> None:
    """Start status_steps with a long pause: it logs step 1, then waits."""
    run_status_steps(page, "60")
    page.wait_for_selector("#script-log :text('working on step 1')")


def assert_shows_the_running_steps(page: Any) -> None:
    page.wait_for_selector("#top-run:text('Status steps')")
    page.click("#nav a[data-page=scripts]")
    page.click("[data-service=status_steps]")
    page.wait_for_selector("#script-status .pill.running")
    page.wait_for_selector("#script-log :text('working on step 1')")
    page.wait_for_selector("#script-cancel:not([disabled])")
    assert page.is_disabled("#script-run")


def test_a_reloaded_page_and_a_new_tab_still_show_the_running_script(page: Any) -> None:
    start_slow_steps(page)
    page.reload()
    page.wait_for_selector("#live:not(.off)")
    assert_shows_the_running_steps(page)

    other = page.context.new_page()
    other.goto(page.url.split("#")[0])
    assert_shows_the_running_steps(other)
    other.click("#script-cancel")
    other.wait_for_selector("#script-status .pill.cancelled", timeout=10_000)
    page.wait_for_selector("#script-status .pill.cancelled", timeout=10_000)
    page.wait_for_selector("#top-run.hidden", state="attached")
    other.close()


def test_a_tab_opened_before_the_run_started_follows_it(page: Any) -> None:
    other = page.context.new_page()
    other.goto(page.url.split("#")[0] + "#scripts")
    other.click("[data-service=status_steps]")
    other.wait_for_selector("#script-status :text('idle')")
    start_slow_steps(page)
    other.wait_for_selector("#script-status .pill.running")
    other.wait_for_selector("#script-log :text('working on step 1')")
    other.click("#script-cancel:not([disabled])")
    page.wait_for_selector("#script-status .pill.cancelled", timeout=10_000)
    other.close()


def is_connected(handle: Any) -> bool:
    return bool(handle.evaluate("el => el.isConnected"))


def test_print_job_buttons_survive_the_machine_pages_poll(page: Any) -> None:
    open_file(page, "dwell.gcode", b"G4 P200\n" * 300)  # a minute of dwells: the job stays up
    page.wait_for_selector("#doc-name:text('dwell.gcode')")
    page.click("#doc-print")
    pause = page.wait_for_selector("#job-pause:not([disabled])")
    resume = page.query_selector("#job-resume")
    stats = page.query_selector("#job-stats")
    first = stats.inner_text()
    page.wait_for_function("([el, before]) => el.textContent !== before", arg=[stats, first])
    assert is_connected(pause) and is_connected(stats)  # updated in place, not rebuilt

    # A slow click: mouse-down and mouse-up more than one poll apart.
    box = pause.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(1500)  # spans at least one poll: the point of this test, not a wait for state
    page.mouse.up()
    page.wait_for_selector("#job-state.paused")
    page.wait_for_selector("#job-resume:not([disabled])")
    assert is_connected(resume)
    resume.click()
    page.wait_for_selector("#job-state.running")
    page.click("#job-cancel")
    page.wait_for_selector("#job-cancel[disabled]", state="attached")
    assert is_connected(pause)


def test_terminal_input_is_disabled_while_disconnected(page: Any) -> None:
    page.wait_for_selector("#machine-state:text('ready')")
    page.click("#machine-disconnect")
    page.wait_for_selector("#terminal-input[disabled]")
    assert "Not connected" in (page.get_attribute("#terminal-input", "placeholder") or "")
    page.click("#machine-connect")
    page.wait_for_selector("#terminal-input:not([disabled])")
    page.fill("#terminal-input", "M114")
    page.press("#terminal-input", "Enter")
    page.wait_for_selector("#terminal :text('M114')")
