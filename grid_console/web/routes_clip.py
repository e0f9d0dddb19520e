"""`GET /api/cases/{id}/clip`: the case's evidence clip, for whoever may read the case (like its
photos). The first request fetches it from the node (clips/service.py); the answer says why
when there is none, in a shape the page turns into words."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response

from grid_console.auth.service import Principal
from grid_console.cases.service import CaseNotFoundError
from grid_console.clips.fetch import Failure
from grid_console.clips.service import Clip, ClipService
from grid_console.web.security import Security, as_actor

_MESSAGES = {
    Failure.NONE: "这条告警没有视频片段 / this alert has no clip",
    Failure.NOT_FOUND: "节点上没有这段视频（尚未生成或已清理）/ the node has no clip (yet)",
    Failure.REFUSED: "节点拒绝访问，请检查节点令牌 / the node refused: check the node token",
    Failure.HTTP_ERROR: "节点返回错误 / the node answered with an error",
    Failure.UNREACHABLE: "无法连接节点 / the node cannot be reached",
    Failure.TIMEOUT: "节点响应超时 / the node did not answer in time",
    Failure.TOO_BIG: "视频过大，未保存 / the clip is too big to keep",
    Failure.BAD_URL: "节点未提供完整地址（api.public_url）/ the node gave no absolute URL",
    Failure.NOT_MP4: "节点返回的不是 MP4 视频 / the node sent something that is not an MP4",
}


def clip_router(clips: ClipService, security: Security) -> APIRouter:
    router = APIRouter()
    anyone = Depends(security.require())

    @router.get(
        "/api/cases/{case_id}/clip",
        tags=["cases"],
        response_class=Response,
        responses={200: {"content": {"video/mp4": {}}}, 404: {}, 502: {}},
    )
    def clip(case_id: int, who: Principal = anyone) -> Response:
        try:
            found = clips.get(case_id, as_actor(who))
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        if isinstance(found, Clip):
            headers = {
                "Cache-Control": "private, max-age=86400",
                "X-Content-Type-Options": "nosniff",
                "ETag": f'"{found.sha256}"',
            }
            return Response(found.content, media_type="video/mp4", headers=headers)
        status = 404 if found.reason in (Failure.NONE, Failure.NOT_FOUND) else 502
        raise HTTPException(
            status,
            {
                "reason": found.reason.value,
                "message": _MESSAGES[found.reason],
                "attempts": found.attempts,
                "retry_at": found.retry_at.isoformat() if found.retry_at else None,
                "detail": found.detail,
            },
        )

    return router
