"""The site config and each camera's zones: read, validate, write atomically and apply."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import yaml
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse

from edge.api.configfile import VersionConflictError
from edge.api.context import ApiContext
from edge.api.schemas import (
    Applied,
    ConfigDocument,
    ConfigPut,
    ConfigText,
    Issue,
    Validation,
    ZoneFields,
    ZoneList,
    ZonesPut,
)
from edge.api.zonefields import zone_fields
from edge.api.zonesedit import CameraNotInFileError, replace_zones, zones_of
from edge.config.loader import ConfigError, ConfigIssue

log = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]
REFUSALS: Responses = {
    422: {"model": Validation, "description": "The config has problems; nothing written."},
    409: {"description": "The file changed since `version` was read."},
}


def issues_json(issues: Sequence[ConfigIssue]) -> list[Issue]:
    return [
        Issue(line=i.line, path=i.path, message=i.message, type=i.code, ctx=dict(i.ctx))
        for i in issues
    ]


def invalid(issues: Sequence[ConfigIssue]) -> JSONResponse:
    body = {
        "ok": False,
        "detail": f"{len(issues)} problem(s) in the config; nothing was written",
        "errors": [i.model_dump() for i in issues_json(issues)],
    }
    return JSONResponse(body, status_code=422)


def _read(ctx: ApiContext) -> tuple[str, str]:
    try:
        doc = ctx.config.read()
    except OSError as exc:
        raise HTTPException(500, f"cannot read the config file: {exc.strerror}") from exc
    return doc.text, doc.version


def apply_text(ctx: ApiContext, text: str, version: str | None) -> Applied | JSONResponse:
    """Check, write and apply; the response of both PUT /api/config and PUT zones."""
    try:
        new_version = ctx.config.write(text, version)
    except VersionConflictError as exc:
        raise HTTPException(409, str(exc)) from exc
    except ConfigError as exc:
        return invalid(exc.issues)
    except OSError as exc:
        log.exception("writing the config failed")
        raise HTTPException(500, f"could not write the config: {exc.strerror}") from exc
    outcome = ctx.backend.reload()
    log.info("config applied via api: ok=%s %s", outcome.ok, outcome.message)
    return Applied(ok=outcome.ok, version=new_version, message=outcome.message)


def config_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["config"])
    write = [Depends(ctx.auth.write)]

    @router.get("/api/config", dependencies=[Depends(ctx.auth.secret)])
    def get_config() -> ConfigDocument:
        """The config file as it is on disk. Always needs the token: it may hold secrets."""
        text, version = _read(ctx)
        return ConfigDocument(yaml=text, file=ctx.config.path.name, version=version)

    @router.post("/api/config/validate", dependencies=write)
    def validate(body: ConfigText) -> Validation:
        """The checks of `edge check-config`, on proposed text; nothing is written."""
        try:
            ctx.config.check(body.yaml)
        except ConfigError as exc:
            return Validation(ok=False, errors=issues_json(exc.issues))
        return Validation(ok=True, errors=[])

    @router.put("/api/config", dependencies=write, responses=REFUSALS, response_model=Applied)
    def put_config(body: ConfigPut) -> Applied | JSONResponse:
        """Validate, write atomically (the old file kept as `<name>.prev`) and apply."""
        return apply_text(ctx, body.yaml, body.version)

    return router


def zones_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["config"])
    write = [Depends(ctx.auth.write)]

    @router.get("/api/zone-fields", dependencies=[Depends(ctx.auth.read)])
    def get_zone_fields() -> ZoneFields:
        """Every zone setting of the config model (but id, name, kind, polygon, categories):
        type, bounds, choices, default and defaults by kind, the kinds whose rule reads it."""
        return ZoneFields(fields=zone_fields())

    @router.get("/api/cameras/{camera_id}/zones", dependencies=[Depends(ctx.auth.read)])
    def get_zones(camera_id: str) -> ZoneList:
        """The camera's zones as the file has them (only the keys written there)."""
        text, _ = _read(ctx)
        try:
            zones = zones_of(text, camera_id)
        except CameraNotInFileError as exc:
            raise HTTPException(404, "no such camera") from exc
        except yaml.YAMLError as exc:
            raise HTTPException(500, "the config file is not valid YAML") from exc
        return ZoneList(camera=camera_id, zones=zones)

    @router.put(
        "/api/cameras/{camera_id}/zones",
        dependencies=write,
        responses=REFUSALS,
        response_model=Applied,
    )
    def put_zones(camera_id: str, body: ZonesPut) -> Applied | JSONResponse:
        """Replace this camera's zones in the file (the rest of it untouched), then as
        PUT /api/config."""
        text, version = _read(ctx)
        if body.version is not None and body.version != version:
            raise HTTPException(409, "the config file changed since it was read")
        try:
            new_text = replace_zones(text, camera_id, body.zones)
        except CameraNotInFileError as exc:
            raise HTTPException(404, "no such camera") from exc
        except yaml.YAMLError as exc:
            raise HTTPException(500, "the config file is not valid YAML") from exc
        return apply_text(ctx, new_text, version)

    return router
