"""`/api/admin/kinds`: the per-kind timers and routing, for admins only (others get 403).

`GET` lists every known kind with its effective settings, where each comes from (`default`:
the serve options; `admin`: a row an admin set) and what the options alone give; `PATCH
/{kind}` sets the fields given (null: back to the option's value); `DELETE /{kind}` resets the
kind. A refused value is a 422 whose `detail` is `{"message", "field", "problem": {"zh", "en"}}`:
the message names the field in both languages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException

from grid_console.auth.roles import Role
from grid_console.auth.service import Principal
from grid_console.kinds.rules import (
    DISPATCH_CHOICES,
    FIELDS,
    HANDLE_LIMITS,
    RESPONSE_LIMITS,
    KindSettingError,
)
from grid_console.kinds.service import KindSettingsService
from grid_console.web.security import Security


def kinds_router(service: KindSettingsService, security: Security) -> APIRouter:
    router = APIRouter(prefix="/api/admin/kinds")
    admin = Depends(security.require(Role.ADMIN))

    @router.get("")
    def list_kinds(_: Principal = admin) -> dict[str, object]:
        return {
            "kinds": [view.as_json() for view in service.all_kinds()],
            "fields": list(FIELDS),
            "limits": {"response_s": list(RESPONSE_LIMITS), "handle_s": list(HANDLE_LIMITS)},
            "dispatch_modes": list(DISPATCH_CHOICES),
            "changes": service.changes(),
        }

    @router.get("/{kind}")
    def one_kind(kind: str, _: Principal = admin) -> dict[str, object]:
        return _refusing(lambda: service.one(kind).as_json())

    @router.patch("/{kind}")
    def change_kind(
        kind: str, body: Annotated[Any, Body()], who: Principal = admin
    ) -> dict[str, object]:
        return _refusing(lambda: service.update(kind, body, who.username).as_json())

    @router.delete("/{kind}")
    def reset_kind(kind: str, who: Principal = admin) -> dict[str, object]:
        return _refusing(lambda: service.reset(kind, who.username).as_json())

    return router


def _refusing(work: Any) -> dict[str, object]:
    try:
        result: dict[str, object] = work()
    except KindSettingError as exc:
        # `problem` without the field's code, for a page that names the field in its own words.
        detail = {"message": str(exc), "field": exc.field, "problem": {"zh": exc.zh, "en": exc.en}}
        raise HTTPException(422, detail) from None
    return result
