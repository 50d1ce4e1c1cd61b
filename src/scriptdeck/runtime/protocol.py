"""The small message protocol between the host and a worker process (over a multiprocessing Pipe).

Host → worker::

    ("job", Job)                               once, right after the worker is handed a run
    ("reply", call_id, ok, value)              the answer to a "call" (value = error text when not ok)

Worker → host::

    ("log", record)                            a logging record: {level, levelno, time, message, exc_text, logger}
    ("notify", target, method, args)           window.warning(...), import_export.progress(...): no answer
    ("status", value)                          the automation object's script_status changed
    ("call", call_id, target, method, args, kwargs)   needs an answer: window.question, g's port...
    ("result", Outcome)                        the last message of a run

Everything is pickled by multiprocessing; only builtin types travel (a plugin's return values
are made JSON-safe in the worker first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["action", "format", "automation", "commands"]  # commands: __script_commands__(settings)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one service once (no plugin objects, only plain data)."""

    run_id: str
    kind: Kind
    service_id: str
    plugin_id: str
    plugin_root: str  # folder whose modules the plugin may import (plugin folder, or a script's folder)
    module: str  # module name inside plugin_root ("hello_world", "pkg.mod", a script's stem)
    module_path: str  # the module's file
    function: str  # function (action, format) or class (automation) in the module
    settings: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    document_text: str | None = None
    direction: str | None = None  # formats: "open" | "save"
    file_path: str | None = None  # formats: the file the worker opens (a temp file when saving)
    filename: str | None = None  # formats: the name handed to the plugin (the real target)
    auto_open: bool = True


@dataclass(frozen=True)
class Outcome:
    """What the worker reports at the end of a run."""

    ok: bool
    value: Any = None  # automation: run()'s return value (JSON-safe); others: None
    document_text: str | None = None  # set only when the plugin changed the document
    error: str | None = None  # "ExcType: message"
    traceback: str | None = None


class RemoteError(Exception):
    """A host-side call made from the worker failed; carries the host's error type name."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name
