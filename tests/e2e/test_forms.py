"""Settings forms in the browser: what a number field says about text it cannot read, and where the eye goes."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def test_unreadable_number_is_named_and_the_first_bad_field_gets_focus(page: Any) -> None:
    page.click("#nav a[data-page=scripts]")
    page.click("[data-service=status_steps]")
    field = page.locator("#script-panel input[name=steps]")
    field.fill("")
    field.press_sequentially("1e")  # a number input keeps "" for this: the message must not say got ""
    page.locator("#script-panel input[name=pause]").focus()
    page.click("#script-run")
    message = page.inner_text("[data-field=steps] .err")
    assert "expected an integer; what was typed is not one" in message, message
    assert page.evaluate("document.activeElement.name") == "steps"
    assert page.inner_text("#script-status").strip() == "idle"
