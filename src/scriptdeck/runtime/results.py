"""What a run produced (`RunResult`), and how an automation script's return value is read.

Seed 000: ``run()`` returns ``(success, values_to_persist)``. The original host also took a
dict ``{success, storage, failure_reason, success_message, wait_for_buffer}``. Both become
an `AutomationReturn`; returned values are coerced to their declared types before they are
persisted (values the schema does not declare are kept as they are, with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scriptdeck.errors import (
    PluginRaisedError,
    RunCancelledError,
    RunError,
    RunTimeoutError,
    SettingsError,
    WorkerDiedError,
)
from scriptdeck.settings.fields import SettingsSchema, describe


@dataclass
class RunResult:
    """The record of one finished run. `outcome` is finished | failed | error | cancelled."""

    run_id: str
    service_id: str
    kind: str
    outcome: str
    title: str = ""
    direction: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    result: Any = None  # automation: the values it returned (coerced); others: None
    failure_reason: str | None = None  # automation failure, or a format's import_export errors
    error: str | None = None  # error outcome: what went wrong
    error_type: str | None = None  # the RunError subclass name matching `error`
    traceback: str | None = None
    document_text: str | None = None  # the document after the run, when the plugin changed it
    messages: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    status_history: list[dict[str, Any]] = field(default_factory=list)
    gcode: list[str] = field(default_factory=list)
    started_at: str = ""
    ended_at: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "finished"

    @property
    def exit_status(self) -> int:
        """The CLI's exit status for this run: 0 finished, 1 anything else."""
        return 0 if self.ok else 1

    @property
    def document(self) -> Any:
        """The changed document as a `GcodeDocument` (None when unchanged)."""
        if self.document_text is None:
            return None
        from scriptdeck.document.gcode import GcodeDocument

        return GcodeDocument.from_text(self.document_text)

    def raise_for_outcome(self) -> None:
        """Raise the matching RunError unless the run finished (failed → RunError)."""
        if self.ok:
            return
        if self.outcome == "cancelled":
            raise RunCancelledError(f"{self.service_id}: cancelled")
        if self.outcome == "failed":
            raise RunError(f"{self.service_id}: failed: {self.failure_reason or 'no reason given'}")
        errors: dict[str, type[RunError]] = {
            "RunTimeoutError": RunTimeoutError, "WorkerDiedError": WorkerDiedError,
        }
        raise errors.get(self.error_type or "", PluginRaisedError)(f"{self.service_id}: {self.error}")

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class AutomationReturn:
    success: bool
    values: dict[str, Any]
    failure_reason: str | None = None
    success_message: str | None = None
    wait_for_buffer: bool = True


def read_automation_return(value: Any) -> AutomationReturn:
    """Interpret what `run()` returned; raises ValueError with a message for the run's error."""
    if isinstance(value, bool):
        return AutomationReturn(value, {})
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"run() must return (success, values); got a sequence of {len(value)} items")
        success, values = value
        values = {} if values is None else values
        if not isinstance(values, dict):
            raise ValueError(f"run() returned values that are not a dict: {describe(values)}")
        return AutomationReturn(bool(success), values)
    if isinstance(value, dict):
        storage = value.get("storage") or {}
        if not isinstance(storage, dict):
            raise ValueError(f"run() returned a 'storage' that is not a dict: {describe(storage)}")
        reason = value.get("failure_reason")
        message = value.get("success_message")
        return AutomationReturn(
            bool(value.get("success", False)),
            storage,
            None if reason is None else str(reason),
            None if message is None else str(message),
            bool(value.get("wait_for_buffer", True)),
        )
    raise ValueError(
        f"run() must return (success, values) or a dict with 'success'; got {describe(value)}"
    )


def coerce_returned(schema: SettingsSchema, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values to persist, typed by the schema; plus a warning per value kept as-is or dropped."""
    kept: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in values.items():
        setting = schema.get(key)
        if setting is None:
            kept[key] = value
            warnings.append(f"{key}: not a declared setting; persisted as returned ({describe(value)})")
            continue
        if not setting.has_value:
            warnings.append(f"{key}: an info setting holds no value; {describe(value)} not persisted")
            continue
        try:
            kept[key] = setting.coerce(value, where=key)
        except SettingsError as exc:
            warnings.append(f"returned value not persisted: {exc}")
    return kept, warnings
