"""The format registry: which format opens or saves a file, and running it.

Formats are the built-in `gcode` format (our own code, run in this process: it only reads
or writes bytes) and every usable plugin `format` service (run in a worker through the
`Host`). A format is chosen by an explicit slug (or service id), else by the file's
extension; when no format, or several, fit, `FormatChoiceError` says which file, which
extension and which formats — a window front end may instead ask the user (`chooser`).

    formats = FormatRegistry.from_services(host.registry.formats())
    fmt = formats.choose("logo.svg", "open")              # by extension
    opened = open_document(host, "logo.svg", fmt)         # → FormatRun with .document
    save_document(host, opened.document, "logo.gcode", formats.choose("logo.gcode", "save"))

Saving always writes a temporary file beside the target and renames it over the target only
when the save succeeded, so a failing save never destroys the existing file (the runtime
does the same for plugin formats).
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scriptdeck.document.gcode import GcodeDocument
from scriptdeck.errors import FormatChoiceError, RunError, SettingsError, UserError
from scriptdeck.plugins.model import Service
from scriptdeck.settings.fields import SettingsSchema

if TYPE_CHECKING:
    from scriptdeck.host import Host
    from scriptdeck.runtime.results import RunResult
    from scriptdeck.runtime.ui import Window

__all__ = [
    "DIRECTIONS",
    "GCODE",
    "Chooser",
    "Format",
    "FormatRegistry",
    "FormatRun",
    "atomic_write",
    "open_document",
    "publish",
    "save_document",
    "window_chooser",
]

DIRECTIONS = ("open", "save")


@dataclass(frozen=True)
class Format:
    """One file format: the built-in G-code one (`service` None) or a plugin's format service."""

    slug: str
    label: str
    extensions: tuple[str, ...]
    can_open: bool
    can_save: bool
    service: Service | None = None

    @property
    def id(self) -> str:
        """The slug for the built-in format, the service id (`Plugin/slug`) for a plugin's."""
        return self.service.id if self.service is not None else self.slug

    @property
    def builtin(self) -> bool:
        return self.service is None

    def can(self, direction: str) -> bool:
        return self.can_open if direction == "open" else self.can_save

    def settings(self, direction: str) -> SettingsSchema:
        """The settings of one direction (the built-in format has none)."""
        if self.service is None or not self.can(direction):
            return SettingsSchema()
        return self.service.settings_for(direction)

    def describe(self) -> str:
        """`svg (SvgImport/svg)` — what the user types, and where it comes from."""
        return self.slug if self.builtin else f"{self.slug} ({self.id})"

    @classmethod
    def from_service(cls, service: Service) -> Format:
        extensions = tuple(_norm_ext(e) for e in service.extensions if _norm_ext(e))
        slug = service.slug or (extensions[0] if extensions else service.id)
        return cls(slug, service.label or slug, extensions, service.can_open, service.can_save, service)


GCODE = Format("gcode", "G-code", ("gcode", "gco", "g", "nc"), True, True)

# (message, the formats to choose from) -> the chosen index, or -1 when the user declined.
Chooser = Callable[[str, list[Format]], int]


def _norm_ext(ext: str) -> str:
    return ext.strip().lstrip(".").lower()


def _suffixes(path: str | os.PathLike[str]) -> list[str]:
    """Candidate extensions of a file name, longest first: `a.tar.gz` → `tar.gz`, `gz`."""
    parts = Path(path).name.lower().split(".")
    return [".".join(parts[i:]) for i in range(1, len(parts)) if parts[i]]


class FormatRegistry:
    """Every format, by slug and by extension, in search order (the built-in format first)."""

    def __init__(self, formats: Iterable[Format]) -> None:
        self.formats: list[Format] = list(formats)

    @classmethod
    def from_services(cls, services: Iterable[Service], *, builtin: bool = True) -> FormatRegistry:
        """The built-in `gcode` format plus these format services (e.g. `registry.formats()`)."""
        return cls(([GCODE] if builtin else []) + [Format.from_service(s) for s in services])

    def by_slug(self, slug: str, direction: str | None = None) -> Format:
        """The format a user named: a slug (`svg`) or a service id (`SvgImport/svg`)."""
        wanted = slug.strip()
        found = [f for f in self.formats if f.id == wanted] or [f for f in self.formats if f.slug == wanted.lower()]
        if not found:
            raise FormatChoiceError(f"no format {wanted!r} (known: {self._known_slugs()})")
        if direction is not None:
            able = [f for f in found if f.can(direction)]
            if not able:
                raise FormatChoiceError(f"format {found[0].describe()} cannot {direction} files")
            found = able
        if len(found) > 1:
            ids = ", ".join(f.id for f in found)
            raise FormatChoiceError(f"several formats have the slug {wanted!r}: {ids}; name one by its id")
        return found[0]

    def for_extension(self, ext: str, direction: str | None = None) -> list[Format]:
        """The formats claiming an extension (and able to go in `direction`, when given)."""
        ext = _norm_ext(ext)
        return [f for f in self.formats if ext in f.extensions and (direction is None or f.can(direction))]

    def extensions(self, direction: str | None = None) -> list[str]:
        return sorted({e for f in self.formats if direction is None or f.can(direction) for e in f.extensions})

    def _known_slugs(self) -> str:
        return ", ".join(sorted({f.slug for f in self.formats})) or "none"

    def choose(
        self,
        path: str | os.PathLike[str],
        direction: str,
        slug: str | None = None,
        *,
        chooser: Chooser | None = None,
        option: str = "",
    ) -> Format:
        """The format to `direction` ("open"/"save") `path` with.

        An explicit `slug` wins. Else the file's extension decides (the longest one that some
        format claims: `.tar.gz` before `.gz`). Several formats for one extension: `chooser` is
        asked (a window's choose_option); without one, FormatChoiceError lists their slugs. `option`
        names the flag that chooses (`--from`) for the messages.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'open' or 'save', got {direction!r}")
        if slug:
            return self.by_slug(slug, direction)
        how = f"; choose one with {option} SLUG" if option else ""
        verb = "opens" if direction == "open" else "saves"
        suffixes = _suffixes(path)
        if not suffixes:
            raise FormatChoiceError(
                f"{path}: the file name has no extension, so its format is unknown "
                f"(formats that {direction}: {self._able_slugs(direction)}){how}"
            )
        for ext in suffixes:
            able = self.for_extension(ext, direction)
            if len(able) == 1:
                return able[0]
            if able:
                return self._ask(path, ext, able, direction, chooser, option)
        claimed = [f for ext in suffixes for f in self.for_extension(ext)]
        if claimed:
            raise FormatChoiceError(
                f"{path}: format {claimed[0].describe()} reads .{suffixes[-1]} files but cannot {direction} them "
                f"(formats that {direction}: {self._able_slugs(direction)}){how}"
            )
        raise FormatChoiceError(
            f"{path}: no format {verb} '.{suffixes[-1]}' files "
            f"(known extensions: {', '.join(self.extensions(direction)) or 'none'}){how}"
        )

    def _able_slugs(self, direction: str) -> str:
        return ", ".join(sorted({f.slug for f in self.formats if f.can(direction)})) or "none"

    def _ask(self, path: str | os.PathLike[str], ext: str, able: list[Format], direction: str,
             chooser: Chooser | None, option: str) -> Format:
        slugs = ", ".join(f.describe() for f in able)
        if chooser is not None:
            index = chooser(f"Several formats can {direction} {Path(path).name} (.{ext}); which one?", able)
            if 0 <= index < len(able):
                return able[index]
            raise FormatChoiceError(f"{path}: no format chosen among {slugs}")
        how = f"; choose one with {option} SLUG" if option else ""
        raise FormatChoiceError(f"{path}: several formats {direction} '.{ext}' files: {slugs}{how}")


def window_chooser(window: Window, title: str = "Choose a format") -> Chooser:
    """A `Chooser` that asks through a front end's window (`choose_option`)."""
    from scriptdeck.runtime.ui import Prompt

    def choose(message: str, formats: list[Format]) -> int:
        options = tuple(f"{f.label} — {f.describe()}" for f in formats)
        prompt = Prompt(uuid.uuid4().hex[:12], "", "choose_option", message, title, options, 0)
        return window.choose_option(prompt)

    return choose


# -- running a format --------------------------------------------------------------------------


@dataclass
class FormatRun:
    """What opening or saving a file produced. `result` is the worker run's record (plugin formats)."""

    format: Format
    direction: str
    path: Path
    document: GcodeDocument | None = None  # open: the document read
    result: RunResult | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok

    @property
    def errors(self) -> list[str]:
        return [m["message"] for m in self.messages if m.get("level") == "error"]

    def raise_for_outcome(self) -> None:
        """RunError (failed / raised / timed out / cancelled) unless the operation succeeded."""
        if self.result is not None and not self.result.ok:
            if self.result.outcome == "failed":
                # import_export.error: every message, not just the first, is the reason.
                raise RunError(f"{self.path}: {self.format.slug} {self.direction} failed: "
                               + "; ".join(self.errors or [self.result.failure_reason or "no reason given"]))
            self.result.raise_for_outcome()


def atomic_write(path: str | os.PathLike[str], write: Callable[[Any], None]) -> None:
    """Call `write(binary_file)` on a temp file beside `path`, then rename it over `path`.

    If `write` raises, the temp file is removed and `path` is untouched. An existing file's
    permissions are kept (a temp file is created 0600).
    """
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())  # the rename must never publish a file whose bytes are not on disk
        publish(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def publish(temp: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Rename a finished temp file (created 0600 by mkstemp) over `target`, with the permissions
    a plain write would give: the existing file's, else 0666 less the umask."""
    try:
        os.chmod(temp, Path(target).stat().st_mode & 0o7777)
    except FileNotFoundError:
        os.chmod(temp, 0o666 & ~_umask())
    os.replace(temp, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_builtin_settings(fmt: Format, settings: Mapping[str, Any] | None) -> None:
    if settings:
        raise SettingsError(f"format {fmt.slug} has no settings, got: {', '.join(sorted(settings))}")


class _ProgressRelay:
    """Forwards the RunProgress events of one run, including any published before its id was known."""

    def __init__(self, callback: Callable[[int, int | None], None]) -> None:
        self.callback = callback
        self.run_id: str | None = None
        self._early: list[tuple[str | None, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, envelope: Any) -> None:
        with self._lock:
            if self.run_id is None:
                self._early.append((envelope.get("run_id"), envelope["payload"]))
                return
        if envelope.get("run_id") == self.run_id:
            self.callback(envelope["payload"].get("value", 0), envelope["payload"].get("maximum"))

    def started(self, run_id: str) -> None:
        with self._lock:
            self.run_id, early = run_id, self._early
            self._early = []
        for rid, payload in early:
            if rid == run_id:
                self.callback(payload.get("value", 0), payload.get("maximum"))


def _run_plugin(host: Host, fmt: Format, direction: str, path: Path, *, document: GcodeDocument | None,
                settings: Mapping[str, Any] | None, window: Window | None, use_last_used: bool,
                timeout: float | None, progress: Callable[[int, int | None], None] | None) -> RunResult:
    from scriptdeck.runtime import events as ev
    from scriptdeck.runtime.ui import RecordingWindow

    assert fmt.service is not None
    relay = _ProgressRelay(progress) if progress is not None else None
    unsubscribe = host.events.subscribe(relay, {ev.RUN_PROGRESS}) if relay is not None else None
    try:
        run_id = host.start(
            fmt.service.id, settings=settings, document=document, direction=direction, file=path,
            window=window or RecordingWindow(), use_last_used=use_last_used, timeout=timeout,
        )
        if relay is not None:
            relay.started(run_id)
        try:
            return host.wait(run_id)
        except KeyboardInterrupt:
            host.cancel(run_id)
            return host.wait(run_id)
    finally:
        if unsubscribe is not None:
            unsubscribe()


def open_document(
    host: Host | None,
    path: str | os.PathLike[str],
    fmt: Format,
    *,
    settings: Mapping[str, Any] | None = None,
    window: Window | None = None,
    use_last_used: bool = True,
    timeout: float | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> FormatRun:
    """Open `path` with `fmt` into a new GcodeDocument (`FormatRun.document`).

    A plugin format runs in a worker (its messages go to `window`; `progress(value, maximum)`
    follows import_export.progress); a failed run is returned, not raised — see
    `FormatRun.raise_for_outcome`. A missing or binary file is a UserError. `host` may be None for the
    built-in format.
    """
    target = Path(path).expanduser()
    if fmt.builtin:
        _check_builtin_settings(fmt, settings)
        try:
            read = GcodeDocument.from_file(target)
        except OSError as exc:
            raise UserError(f"{target}: cannot open: {exc.strerror or exc}") from None
        return FormatRun(fmt, "open", target, read)
    if host is None:
        raise ValueError(f"opening with the plugin format {fmt.id} needs a Host")
    if not target.is_file():
        raise UserError(f"{target}: no such file")
    result = _run_plugin(host, fmt, "open", target, document=None, settings=settings, window=window,
                         use_last_used=use_last_used, timeout=timeout, progress=progress)
    document = None
    if result.ok:
        document = result.document if result.document_text is not None else GcodeDocument()
        document.mark_saved()
    return FormatRun(fmt, "open", target, document, result, list(result.messages))


def save_document(
    host: Host | None,
    document: GcodeDocument,
    path: str | os.PathLike[str],
    fmt: Format,
    *,
    settings: Mapping[str, Any] | None = None,
    window: Window | None = None,
    use_last_used: bool = True,
    timeout: float | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> FormatRun:
    """Save `document` to `path` with `fmt`; the existing file is replaced only on success.

    The built-in format writes the document's bytes exactly (an unedited document saves to the
    bytes it was opened from) and raises RunError when the write fails; a plugin format's
    failure is returned (see `FormatRun.raise_for_outcome`).
    """
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise UserError(f"{target}: cannot save: the folder {target.parent} does not exist")
    if fmt.builtin:
        _check_builtin_settings(fmt, settings)
        data = document.to_bytes()
        try:
            atomic_write(target, lambda out: out.write(data))
        except OSError as exc:
            raise RunError(f"{target}: cannot save: {exc.strerror or exc}") from None
        if progress is not None:
            progress(1, 1)
        return FormatRun(fmt, "save", target, document)
    if host is None:
        raise ValueError(f"saving with the plugin format {fmt.id} needs a Host")
    result = _run_plugin(host, fmt, "save", target, document=document, settings=settings, window=window,
                         use_last_used=use_last_used, timeout=timeout, progress=progress)
    return FormatRun(fmt, "save", target, document, result, list(result.messages))
