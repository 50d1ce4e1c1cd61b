"""Icons for plugins and services: a file in the plugin folder, a freedesktop theme icon, or a fallback.

Never a broken image: a missing file, a name no installed theme has, or a path that escapes the
plugin folder all end in a bundled SVG (a specific one for common names, else a generic plug-in).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

ICON_DIRS: tuple[Path, ...] = (Path("/usr/share/icons"), Path("/usr/local/share/icons"),
                               Path.home() / ".local/share/icons", Path("/usr/share/pixmaps"))
# Theme preference: the spec's fallback theme first, then the common desktop themes.
THEMES = ("hicolor", "Adwaita", "breeze", "Papirus", "Tango", "gnome", "oxygen", "elementary")
IMAGE_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".ico": "image/x-icon"}
# An SVG served from a plugin folder must not run script if opened directly.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

_STROKE = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#64748b" '
           'stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">{}</svg>')
_SHAPES: dict[str, str] = {
    "generic": '<path d="M9 3h6v3a2 2 0 1 0 4 0V3h2v6h-3a2 2 0 1 0 0 4h3v8H3v-8h3a2 2 0 1 0 0-4H3V3z"/>',
    "document": '<path d="M14 3H6v18h12V7z"/><path d="M14 3v4h4"/><path d="M9 12h6M9 16h6"/>',
    "open": '<path d="M3 7h6l2 2h10v10H3z"/><path d="M3 7V5h6l2 2"/>',
    "save": '<path d="M5 3h11l3 3v15H5z"/><path d="M8 3v5h7V3"/><rect x="8" y="13" width="8" height="6"/>',
    "run": '<path d="M7 4l12 8-12 8z"/>',
    "stop": '<rect x="6" y="6" width="12" height="12" rx="1"/>',
    "pause": '<path d="M9 5v14M15 5v14"/>',
    "undo": '<path d="M9 14L4 9l5-5"/><path d="M4 9h11a5 5 0 0 1 0 10h-3"/>',
    "settings": '<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M4.2 4.2l2.1 2.1M17.7 17.7l2.1 2.1'
                'M2 12h3M19 12h3M4.2 19.8l2.1-2.1M17.7 6.3l2.1-2.1"/>',
    "image": '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="2"/><path d="M21 17l-6-6-9 9"/>',
    "find": '<circle cx="11" cy="11" r="6"/><path d="M20 20l-4.5-4.5"/>',
    "scale": '<path d="M4 20L20 4M14 4h6v6M4 14v6h6"/>',
    "printer": '<path d="M6 9V3h12v6"/><rect x="3" y="9" width="18" height="8" rx="1"/><path d="M7 14h10v7H7z"/>',
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v6M12 7.5v.5"/>',
    "warning": '<path d="M12 3l10 18H2z"/><path d="M12 10v5M12 18v.5"/>',
    "tool": '<path d="M14 7a4 4 0 0 0 5 5l-8 8-4-4 8-8"/><path d="M14 7l3-3 3 3-3 3"/>',
    "temperature": '<path d="M10 4a2 2 0 0 1 4 0v10a4 4 0 1 1-4 0z"/><path d="M12 9v7"/>',
    "layers": '<path d="M12 3l9 5-9 5-9-5z"/><path d="M3 13l9 5 9-5"/>',
    "home": '<path d="M3 11l9-8 9 8"/><path d="M5 10v10h14V10"/>',
    "text": '<path d="M5 5h14M12 5v14"/>',
}
# Freedesktop names (and prefixes) mapped onto the bundled shapes.
_ALIASES: dict[str, str] = {
    "document-new": "document", "text-x-generic": "document", "text-x-script": "document",
    "document-open": "open", "folder": "open", "folder-open": "open", "document-import": "open",
    "document-save": "save", "document-save-as": "save", "document-export": "save",
    "media-playback-start": "run", "system-run": "run", "application-x-executable": "run", "system-run-symbolic": "run",
    "media-playback-stop": "stop", "process-stop": "stop", "media-playback-pause": "pause",
    "edit-undo": "undo", "preferences-system": "settings", "emblem-system": "settings",
    "preferences-other": "settings", "applications-system": "settings", "configure": "settings",
    "image-x-generic": "image", "image-svg+xml": "image", "insert-image": "image", "image-gif": "image",
    "edit-find": "find", "edit-find-replace": "find", "zoom-fit-best": "scale", "transform-scale": "scale",
    "object-flip-horizontal": "scale", "printer": "printer", "document-print": "printer",
    "dialog-information": "info", "help-about": "info", "dialog-warning": "warning",
    "applications-engineering": "tool", "applications-utilities": "tool", "tools": "tool",
    "temperature": "temperature", "sensors-temperature-symbolic": "temperature",
    "view-list": "layers", "layer": "layers", "go-home": "home", "format-text-bold": "text",
    "insert-text": "text",
}


def bundled_svg(name: str) -> bytes:
    """The bundled icon for a freedesktop name, else the generic one."""
    base = name.removesuffix("-symbolic")
    shape = _ALIASES.get(name) or _ALIASES.get(base) or (base if base in _SHAPES else None)
    if shape is None:
        for prefix, target in (("document-", "document"), ("image-", "image"), ("media-", "run"),
                               ("text-", "document"), ("edit-", "tool"), ("printer", "printer")):
            if base.startswith(prefix):
                shape = target
                break
    return _STROKE.format(_SHAPES[shape or "generic"]).encode()


@dataclass(frozen=True)
class IconFile:
    path: Path
    media_type: str


def _size_rank(path: Path) -> tuple[int, int]:
    """Prefer scalable SVGs, then the largest raster up to 256 px."""
    if path.suffix == ".svg":
        return (0, 0)
    for part in path.parts:
        head = part.split("x", 1)[0].split("@", 1)[0]
        if head.isdigit():
            size = int(head)
            return (1, -size if size <= 256 else size)
    return (2, 0)


class ThemeIcons:
    """Index of installed freedesktop icons: name -> best file. Built once, on first lookup."""

    def __init__(self, dirs: tuple[Path, ...] = ICON_DIRS) -> None:
        self.dirs = dirs
        self._index: dict[str, list[Path]] | None = None
        self._lock = threading.Lock()

    def _build(self) -> dict[str, list[Path]]:
        index: dict[str, list[Path]] = {}
        for base in self.dirs:
            if not base.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(base):
                for fname in files:
                    stem, dot, ext = fname.rpartition(".")
                    if dot and f".{ext}" in (".svg", ".png"):
                        index.setdefault(stem, []).append(Path(dirpath) / fname)
        return index

    def lookup(self, name: str) -> IconFile | None:
        if not name or "/" in name or name.startswith("."):
            return None
        with self._lock:
            if self._index is None:
                self._index = self._build()
            candidates = list(self._index.get(name, ()))
        if not candidates:
            return None

        def rank(p: Path) -> tuple[int, tuple[int, int]]:
            theme = next((i for i, t in enumerate(THEMES) if f"/{t}/" in str(p)), len(THEMES))
            return (theme, _size_rank(p))

        best = min(candidates, key=rank)
        return IconFile(best, IMAGE_TYPES[best.suffix])


def plugin_icon_file(icon: str, plugin_dir: Path) -> IconFile | None:
    """A plugin's icon file, if it exists, is an image, and lies inside the plugin folder."""
    if not icon or icon.startswith("theme:"):
        return None
    candidate = Path(icon)
    if not candidate.is_absolute():
        candidate = plugin_dir / candidate
    try:
        resolved = candidate.resolve(strict=True)
        root = plugin_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None  # symlinks or ../ escaping the plugin folder are refused
    media = IMAGE_TYPES.get(resolved.suffix.lower())
    return IconFile(resolved, media) if media else None
