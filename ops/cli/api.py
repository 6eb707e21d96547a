"""The config API as ``wf`` uses it: bearer key, JSON in and out, errors as exit statuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp

from ops.cli.output import FAILED, NOT_FOUND, UNAUTHORIZED, UNAVAILABLE, Failure

_STATUS_CODES = {401: UNAUTHORIZED, 403: UNAUTHORIZED, 404: NOT_FOUND}
_PAGE = 200


def refused(status: int, body: Any) -> Failure:
    """The failure of an answer with ``status``: its exit status and the API's error message."""
    message = f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        message = f"{error.get('code', status)}: {error.get('message', '')}"
        details = error.get("details") or []
        message += "".join(
            f"\n  {detail.get('path', '$')}: {detail.get('message', '')}"
            for detail in details
            if isinstance(detail, dict)
        )
    code = _STATUS_CODES.get(status, UNAVAILABLE if status >= 500 else FAILED)
    return Failure(code, message)


class ConfigApi:
    """One session against the config API at ``base_url`` with the key ``api_key``."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        if not api_key:
            raise Failure(UNAUTHORIZED, "no API key: pass --api-key or set WF_API_KEY")
        self._base = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def __aenter__(self) -> ConfigApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._session.close()

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        """The JSON answer of a 2xx; ``Failure`` with the right exit status otherwise."""
        url = f"{self._base}{path}"
        try:
            async with self._session.request(method, url, json=body, params=params) as response:
                answer = (
                    await response.json(content_type=None) if response.content_length != 0 else None
                )
                if response.status >= 300:
                    raise refused(response.status, answer)
                return answer
        except aiohttp.ClientConnectionError as error:
            raise Failure(
                UNAVAILABLE, f"the config API at {self._base} is unreachable: {error}"
            ) from None
        except TimeoutError:
            raise Failure(
                UNAVAILABLE, f"the config API at {self._base} did not answer in time"
            ) from None
        except ValueError as error:  # the body is not JSON: not the config API speaking
            raise Failure(
                UNAVAILABLE, f"{url} answered something that is not JSON: {error}"
            ) from None

    async def pages(
        self, path: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paged list."""
        query = {**(params or {}), "limit": str(_PAGE)}
        while True:
            page = await self.call("GET", path, params=query)
            for item in page["items"]:
                yield item
            cursor = page.get("nextCursor")
            if not cursor:
                return
            query["cursor"] = cursor
