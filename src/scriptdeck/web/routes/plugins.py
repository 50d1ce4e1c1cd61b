"""Plugins and services: the plugin manager's list, enable/disable, reload, and icons."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response

from scriptdeck.plugins.model import Plugin, Service, ServiceKind
from scriptdeck.web.backend import WebBackend, icon_url_for_plugin, icon_url_for_service
from scriptdeck.web.icons import SVG_CSP, IconFile, ThemeIcons, bundled_svg, plugin_icon_file
from scriptdeck.web.models import PluginOut, PluginsOut, ServicesOut
from scriptdeck.web.routes import backend, fast_json

router = APIRouter(tags=["plugins"])
Backend = Annotated[WebBackend, Depends(backend)]
THEME = ThemeIcons()
ICON_HEADERS = {"cache-control": "max-age=60"}


def service_json(service: Service) -> dict[str, Any]:
    data = service.to_json()
    data["plugin_id"] = service.plugin_id
    data["label"] = data.get("label") or data.get("title") or service.label
    data["tooltip"] = service.tooltip
    data["icon_url"] = icon_url_for_service(service)
    if isinstance(data.get("settings"), dict):  # formats: one schema per direction
        data["settings_open"] = data["settings"].get("open")
        data["settings_save"] = data["settings"].get("save")
        data["settings"] = None
    return data


def plugin_json(plugin: Plugin) -> dict[str, Any]:
    data = plugin.to_json()
    data["root"] = str(plugin.root)
    data["enabled"] = plugin.enabled
    data["icon_url"] = icon_url_for_plugin(plugin)
    data["services"] = [service_json(s) for s in plugin.services]
    return data


def plugins_json(b: WebBackend) -> dict[str, Any]:
    registry = b.registry
    return {"plugins": [plugin_json(p) for p in registry.plugins],
            "roots": [str(r.path) for r in registry.roots], "generation": b.generation}


_cache: dict[str, Any] = {"key": None, "body": b""}
_cache_lock = threading.Lock()


@router.get("/plugins", response_model=PluginsOut)
def list_plugins(b: Backend) -> Response:
    """Every plugin found, shadowed copies and broken ones included, in search order."""
    # A registry is immutable once discovered (reload makes a new one), so its JSON is built
    # once per registry and served from memory: with 1,000 plugins that is most of the cost.
    registry = b.registry
    key = (id(registry), b.generation, id(b))
    with _cache_lock:
        if _cache["key"] == key and _cache["registry"] is registry:
            return Response(_cache["body"], media_type="application/json")
    body = fast_json(plugins_json(b)).body
    with _cache_lock:
        _cache.update(key=key, registry=registry, body=body)
    return Response(body, media_type="application/json")


@router.post("/plugins/reload", response_model=PluginsOut)
def reload_plugins(b: Backend) -> Response:
    b.reload()
    return fast_json(plugins_json(b))


@router.post("/plugins/{plugin_id}/enable", response_model=PluginOut)
def enable_plugin(plugin_id: str, b: Backend) -> dict[str, Any]:
    return plugin_json(b.set_enabled(plugin_id, True))


@router.post("/plugins/{plugin_id}/disable", response_model=PluginOut)
def disable_plugin(plugin_id: str, b: Backend) -> dict[str, Any]:
    return plugin_json(b.set_enabled(plugin_id, False))


@router.get("/services", response_model=ServicesOut)
def list_services(b: Backend, kind: ServiceKind | None = None) -> dict[str, Any]:
    """Usable services (enabled plugins without errors), optionally of one kind."""
    return {"services": [service_json(s) for s in b.registry.services() if kind is None or s.kind == kind]}


def _icon_response(icon: str | None, folder: Path) -> Response:
    found: IconFile | None = None
    name = "generic"
    if icon and icon.startswith("theme:"):
        name = icon.removeprefix("theme:")
        found = THEME.lookup(name)
    elif icon:
        found = plugin_icon_file(icon, folder)
    if found is not None:
        headers = dict(ICON_HEADERS)
        if found.media_type == "image/svg+xml":
            headers["content-security-policy"] = SVG_CSP
        return FileResponse(found.path, media_type=found.media_type, headers=headers)
    return Response(bundled_svg(name), media_type="image/svg+xml",
                    headers={**ICON_HEADERS, "content-security-policy": SVG_CSP})


def _folder(plugin: Plugin) -> Path:
    return plugin.path if plugin.kind == "manifest" else plugin.path.parent


@router.get("/plugins/{plugin_id}/icon", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
def plugin_icon(plugin_id: str, b: Backend) -> Response:
    """The plugin's icon; a bundled fallback when the file or theme icon cannot be found."""
    for plugin in b.registry.plugins:
        if plugin.id == plugin_id:
            return _icon_response(plugin.icon, _folder(plugin))
    return _icon_response(None, Path("."))


@router.get("/services/{service_id:path}/icon", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
def service_icon(service_id: str, b: Backend) -> Response:
    """A service's icon, else its plugin's (seed 004), else a fallback."""
    for plugin in b.registry.plugins:
        for service in plugin.services:
            if service.id == service_id:
                return _icon_response(service.icon or plugin.icon, _folder(plugin))
    return _icon_response(None, Path("."))


@router.get("/icons/theme/{name}", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
def theme_icon(name: str) -> Response:
    """A freedesktop theme icon by name, as the dashboard's own buttons use them."""
    return _icon_response(f"theme:{name}", Path("."))
