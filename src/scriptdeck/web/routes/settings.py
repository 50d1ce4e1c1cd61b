"""Settings of a service: the schema, the stored or last-used values, validation and saving."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from scriptdeck.web.backend import WebBackend, check_settings
from scriptdeck.web.models import SettingsIn, SettingsOut
from scriptdeck.web.routes import backend

router = APIRouter(tags=["settings"])
Backend = Annotated[WebBackend, Depends(backend)]


@router.get("/services/{service_id:path}/settings", response_model=SettingsOut, response_model_by_alias=True)
def get_settings(service_id: str, b: Backend, direction: str | None = None) -> dict[str, Any]:
    """The form of a service: schema and the values to pre-fill it with.

    Automation scripts: stored values. Actions and formats: the last-used values (seed 004
    shows the dialog before every run; it opens with what was used last).
    """
    return b.settings_view(b.service(service_id), direction)


@router.post("/services/{service_id:path}/settings/validate", response_model=SettingsOut,
             response_model_by_alias=True)
def validate_settings(service_id: str, body: SettingsIn, b: Backend) -> dict[str, Any]:
    """Check values without saving: a 400 naming the first bad field, with every problem in `errors`."""
    service = b.service(service_id)
    direction = b.direction_for(service, body.direction)
    check_settings(service.settings_for(direction), body.values)
    return b.settings_view(service, direction)


@router.put("/services/{service_id:path}/settings", response_model=SettingsOut, response_model_by_alias=True)
def put_settings(service_id: str, body: SettingsIn, b: Backend) -> dict[str, Any]:
    """Validate every value, then store them all in one transaction (nothing half-saved)."""
    return b.save_settings(b.service(service_id), body.direction, body.values)


@router.delete("/services/{service_id:path}/settings", response_model=SettingsOut, response_model_by_alias=True)
def reset_settings(service_id: str, b: Backend, direction: str | None = None) -> dict[str, Any]:
    return b.reset_settings(b.service(service_id), direction)
