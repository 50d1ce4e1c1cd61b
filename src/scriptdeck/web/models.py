"""The JSON shapes of the dashboard API: request bodies and response models (they feed /openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JSONValue = Any


class ErrorItem(BaseModel):
    error: str
    field: str | None = None


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: what went wrong and which field (or header) it concerns.

    `errors` lists every problem when several were found (settings); `error`/`field` is the first.
    """

    error: str
    field: str | None = None
    errors: list[ErrorItem] | None = None


class RequestBody(BaseModel):
    """Base of the request bodies: an unknown key is a 422, not silently ignored (a typo, or
    `{"steps": 5}` sent without its `values` wrapper, would otherwise do nothing)."""

    model_config = ConfigDict(extra="forbid")


class SettingFieldOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    type: str
    label: str
    description: str | None = None
    default: JSONValue = None
    min: float | None = None
    max: float | None = None
    choices: list[dict[str, JSONValue]] | None = None


class ServiceOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    kind: str
    plugin_id: str
    label: str
    tooltip: str = ""
    icon_url: str
    settings: list[SettingFieldOut] | None = None
    extensions: list[str] | None = None
    slug: str | None = None
    can_open: bool | None = None
    can_save: bool | None = None


class PluginOut(BaseModel):
    id: str
    name: str
    description: str
    version: int
    author: str
    kind: str
    path: str
    root: str
    status: str
    enabled: bool
    errors: list[str]
    warnings: list[str]
    shadowed_by: str | None
    icon_url: str
    services: list[ServiceOut]


class PluginsOut(BaseModel):
    plugins: list[PluginOut]
    roots: list[str]
    generation: int


class ServicesOut(BaseModel):
    services: list[ServiceOut]


class SettingsOut(BaseModel):
    service: str
    direction: str | None = None
    schema_: list[SettingFieldOut] = Field(alias="schema")
    values: dict[str, JSONValue]
    stored: dict[str, JSONValue]
    last_used: dict[str, JSONValue]
    warnings: list[str]

    model_config = ConfigDict(populate_by_name=True)


class SettingsIn(RequestBody):
    values: dict[str, JSONValue] = Field(default_factory=dict)
    direction: str | None = None


class RunIn(RequestBody):
    service: str = Field(min_length=1, max_length=500)
    settings: dict[str, JSONValue] = Field(default_factory=dict)


class LogRecordOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    level: str
    message: str
    time: str | None = None


class RunOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    service: str
    kind: str
    title: str
    state: str  # running | finished | failed | error | cancelled | interrupted
    status: str | None = None
    status_history: list[dict[str, JSONValue]] = Field(default_factory=list)
    settings: dict[str, JSONValue] = Field(default_factory=dict)
    result: JSONValue = None
    error: str | None = None
    log: list[LogRecordOut] = Field(default_factory=list)
    started: str | None = None
    ended: str | None = None
    progress: float | None = None


class RunsOut(BaseModel):
    runs: list[RunOut]


class PromptOut(BaseModel):
    id: str
    run_id: str | None
    kind: str  # question | choose_option
    title: str
    message: str
    options: list[str] = Field(default_factory=list)
    default: JSONValue = None


class PromptsOut(BaseModel):
    prompts: list[PromptOut]


class AnswerIn(RequestBody):
    answer: JSONValue = None


class OkOut(BaseModel):
    ok: bool = True
    message: str = ""


class EventOut(BaseModel):
    event: str
    payload: dict[str, JSONValue]
    run_id: str | None = None
    time: str


class EventsOut(BaseModel):
    events: list[EventOut]


class ConnectIn(RequestBody):
    url: str = Field(default="virtual://", min_length=1, max_length=500)
    baud: int | None = Field(default=None, ge=50, le=4_000_000)


class SendIn(RequestBody):
    line: str = Field(min_length=1, max_length=256)


class JobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    state: str
    name: str = ""
    acknowledged: int = 0
    total: int = 0
    elapsed: float | None = None
    remaining: float | None = None


class MachineOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    available: bool
    url: str | None = None
    state: str
    owner: str | None = None
    temperatures: dict[str, JSONValue] = Field(default_factory=dict)
    position: dict[str, float] = Field(default_factory=dict)
    job: JobOut | None = None
    error: str | None = None


class TemperatureSample(BaseModel):
    time: float
    values: dict[str, JSONValue]


class TemperaturesOut(BaseModel):
    samples: list[TemperatureSample]


class TerminalLine(BaseModel):
    seq: int
    time: float
    direction: str  # "out" (sent) | "in" (received)
    line: str


class TerminalOut(BaseModel):
    lines: list[TerminalLine]
    next: int


class FormatOut(BaseModel):
    id: str
    slug: str
    label: str
    extensions: list[str]
    can_open: bool
    can_save: bool
    builtin: bool = False


class FormatsOut(BaseModel):
    formats: list[FormatOut]
    accept: str


class DocumentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    loaded: bool
    name: str = ""
    lines: int = 0
    revision: int = 0
    can_undo: bool = False
    undo_label: str | None = None
    stats: dict[str, JSONValue] = Field(default_factory=dict)


class PreviewOut(BaseModel):
    revision: int
    bounds: list[float] | None
    layers: list[dict[str, JSONValue]]


class SaveIn(RequestBody):
    format: str | None = Field(default=None, max_length=200)
    filename: str | None = Field(default=None, max_length=255)
    settings: dict[str, JSONValue] = Field(default_factory=dict)


class OpenResultOut(BaseModel):
    document: DocumentOut
    run: RunOut | None = None
    messages: list[dict[str, JSONValue]] = Field(default_factory=list)
