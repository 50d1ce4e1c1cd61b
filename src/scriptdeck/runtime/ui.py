"""The host's face toward a plugin: the `Window` each front end implements, and the ImportExport collector.

A plugin's `window.warning(...)` or `window.question(...)` (in the worker) arrives here, in
the run's host thread. Messages are fire-and-forget; a question blocks the plugin until the
window returns an answer, so a front end may take its time:

* `CliWindow` prints ``warning: <message>`` to stderr and prompts on a terminal (otherwise
  it takes the default and says so);
* `RecordingWindow` keeps everything and answers with defaults (tests, headless API use);
* `FutureWindow` parks each question on a `concurrent.futures.Future` until someone calls
  `answer(request_id, value)` — from a browser request, any thread (the dashboard's window).
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Prompt:
    """One question a plugin asked. `kind` is "question" (answer: bool) or "choose_option" (answer: index)."""

    request_id: str
    run_id: str
    kind: str
    message: str
    title: str = ""
    options: tuple[str, ...] = ()
    default: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "kind": self.kind, "title": self.title, "message": self.message,
                "options": list(self.options), "default": self.default}


@runtime_checkable
class Window(Protocol):
    """What every front end implements. Called from the run's host thread; questions may block."""

    def warning(self, message: str, title: str = "") -> None: ...

    def information(self, message: str, title: str = "") -> None: ...

    def error(self, message: str, title: str = "") -> None: ...

    def question(self, prompt: Prompt) -> bool: ...

    def choose_option(self, prompt: Prompt) -> int: ...


@dataclass
class Message:
    level: str  # "warning" | "information" | "error"
    message: str
    title: str = ""
    source: str = "window"  # "window" | "import_export"


class RecordingWindow:
    """Keeps every message and prompt; answers from `answers` (in order), else with the default."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.messages: list[Message] = []
        self.prompts: list[Prompt] = []
        self.answers = list(answers or [])
        self._lock = threading.Lock()

    def _record(self, level: str, message: str, title: str) -> None:
        with self._lock:
            self.messages.append(Message(level, message, title))

    def warning(self, message: str, title: str = "") -> None:
        self._record("warning", message, title)

    def information(self, message: str, title: str = "") -> None:
        self._record("information", message, title)

    def error(self, message: str, title: str = "") -> None:
        self._record("error", message, title)

    def _answer(self, prompt: Prompt) -> Any:
        with self._lock:
            self.prompts.append(prompt)
            return self.answers.pop(0) if self.answers else prompt.default

    def question(self, prompt: Prompt) -> bool:
        return bool(self._answer(prompt))

    def choose_option(self, prompt: Prompt) -> int:
        return int(self._answer(prompt))


class FutureWindow(RecordingWindow):
    """A window answered asynchronously: each question waits for `answer(request_id, value)`.

    The host publishes a ``RunPrompt`` event (with the request id) before asking; a web front
    end shows it and calls ``host.answer(run_id, request_id, value)``. After `timeout` seconds
    without an answer (None: wait forever) the default is used; cancelling the run releases it.
    """

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self._pending: dict[str, tuple[Prompt, Future[Any]]] = {}

    def pending(self) -> list[Prompt]:
        """Questions waiting for an answer right now."""
        with self._lock:
            return [prompt for prompt, _ in self._pending.values()]

    def answer(self, request_id: str, value: Any) -> bool:
        """Answer a waiting question (thread-safe); False when it is not (or no longer) waiting."""
        with self._lock:
            entry = self._pending.get(request_id)
        if entry is None:
            return False
        try:
            entry[1].set_result(value)
        except Exception:  # already answered or cancelled
            return False
        return True

    def cancel_all(self) -> None:
        with self._lock:
            futures = [future for _, future in self._pending.values()]
        for future in futures:
            future.cancel()

    def _wait(self, prompt: Prompt) -> Any:
        future: Future[Any] = Future()
        with self._lock:
            self.prompts.append(prompt)
            self._pending[prompt.request_id] = (prompt, future)
        try:
            return future.result(self.timeout)
        except (FutureTimeout, CancelledError):
            return prompt.default
        finally:
            with self._lock:
                self._pending.pop(prompt.request_id, None)

    def question(self, prompt: Prompt) -> bool:
        return bool(self._wait(prompt))

    def choose_option(self, prompt: Prompt) -> int:
        value = self._wait(prompt)
        return int(value) if value is not None else -1


class CliWindow(RecordingWindow):
    """The command line's window: messages to stderr; prompts only when stdin is a terminal."""

    def __init__(self, stdin: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        super().__init__()
        self._stdin = stdin or sys.stdin
        self._stderr = stderr or sys.stderr

    def _print(self, text: str) -> None:
        print(text, file=self._stderr, flush=True)

    def _record(self, level: str, message: str, title: str) -> None:
        super()._record(level, message, title)
        self._print(f"{level}: {message}")

    def _interactive(self) -> bool:
        try:
            return self._stdin.isatty()
        except (AttributeError, ValueError):
            return False

    def question(self, prompt: Prompt) -> bool:
        self.prompts.append(prompt)
        default = bool(prompt.default)
        if not self._interactive():
            self._print(f"question: {prompt.message} -> {'yes' if default else 'no'} (default; stdin is not a terminal)")
            return default
        while True:
            self._stderr.write(f"question: {prompt.message} [{'Y/n' if default else 'y/N'}] ")
            self._stderr.flush()
            reply = self._stdin.readline().strip().lower()
            if not reply:
                return default
            if reply in ("y", "yes"):
                return True
            if reply in ("n", "no"):
                return False

    def choose_option(self, prompt: Prompt) -> int:
        self.prompts.append(prompt)
        default = int(prompt.default) if prompt.default is not None else 0
        label = prompt.options[default] if 0 <= default < len(prompt.options) else "none"
        if not self._interactive():
            self._print(f"choose_option: {prompt.message} -> {label} (default; stdin is not a terminal)")
            return default
        self._print(f"choose_option: {prompt.message}")
        for index, option in enumerate(prompt.options, 1):
            self._print(f"  {index}) {option}")
        while True:
            self._stderr.write(f"choice [{default + 1}]: ")
            self._stderr.flush()
            reply = self._stdin.readline().strip()
            if not reply:
                return default
            if reply.isdigit() and 1 <= int(reply) <= len(prompt.options):
                return int(reply) - 1


@dataclass
class ImportExportCollector:
    """What a format plugin reported through `import_export`; any error fails the operation."""

    messages: list[Message] = field(default_factory=list)
    progress_max: int | None = None
    progress: int = 0

    @property
    def errors(self) -> list[str]:
        return [m.message for m in self.messages if m.level == "error"]

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def report(self, method: str, args: tuple[Any, ...]) -> Message | None:
        """Record one import_export call; returns the message it carried, if any."""
        if method == "progress_max_changed":
            self.progress_max = int(args[0])
            return None
        if method == "progress":
            self.progress = int(args[0])
            return None
        message = Message(method, str(args[0]), source="import_export")
        self.messages.append(message)
        return message
