"""Local servers that answer as Slack, Microsoft Teams, Salesforce and HubSpot do, and a webhook
receiver: what the integration and e2e suites test the executor against, and what the ``make
run`` development sink serves.

One aiohttp application, each provider under its own prefix (``ProviderFakes.urls`` gives the
settings that point the executor at it):

- ``POST /slack/api/chat.postMessage``: Slack's Web API. HTTP 200 with ``{"ok": true, "channel",
  "ts", "message"}``, or ``{"ok": false, "error"}`` (``not_authed``, ``invalid_auth``,
  ``no_text``, ``channel_not_found`` for a channel outside ``slack_channels`` when that is set);
  ``ratelimited`` is HTTP 429 with ``Retry-After``.
- ``POST /teams/<anything>``: an incoming webhook; answers ``1``.
- ``POST /salesforce/services/data/vXX.X/sobjects/<object>/`` → 201 ``{"id", "success",
  "errors"}``; ``PATCH …/<object>/<id>`` → 204. Failures are arrays of ``{"message",
  "errorCode", "fields"}``: 401 ``INVALID_SESSION_ID`` for a wrong token, 400
  ``REQUIRED_FIELD_MISSING`` for the fields ``salesforce_required`` names, 404 ``NOT_FOUND``.
- ``POST /hubspot/crm/v3/objects/<type>`` → 201 with ``id`` and ``properties``; ``PATCH
  …/<type>/<id>`` → 200. Failures are ``{"status": "error", "message", "correlationId",
  "category"}``: 401 ``INVALID_AUTHENTICATION``, 404 ``OBJECT_NOT_FOUND``, 409 ``CONFLICT`` for
  a second contact with the same ``email`` ("Contact already exists. Existing ID: …").
- ``/webhooks/<anything>``, any method: records the request, answers ``{"ok": true}``.
- ``GET /sent`` lists everything received, newest first (JSON); ``GET /`` shows it as a page;
  ``/healthz`` and ``/readyz`` answer 200.

``answer_next(provider, answer)`` scripts the next answers of a provider (``slack_error``,
``slack_ratelimited``, ``salesforce_errors``, ``hubspot_error``, ``teams_undelivered``,
``plain``); each is used once, in order, before the normal behaviour resumes.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from aiohttp import web

Provider = Literal["slack", "teams", "salesforce", "hubspot", "webhook", "smtp"]
REDACTED_HEADERS: Final = frozenset({"authorization", "cookie"})
DEFAULT_TOKEN: Final = "dev-token"  # noqa: S105 - the fakes' public development credential


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: status, JSON (or text) body, headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, headers=self.headers)
        if self.body is None:
            return web.Response(status=self.status, headers=self.headers)
        return web.json_response(self.body, status=self.status, headers=self.headers)


def slack_error(error: str) -> Answer:
    """Slack's way of failing: HTTP 200 and ``{"ok": false, "error": …}``."""
    return Answer(200, {"ok": False, "error": error})


def slack_ratelimited(retry_after: int = 1) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def salesforce_errors(status: int, *errors: tuple[str, str, list[str]]) -> Answer:
    """Salesforce's error array: ``(errorCode, message, fields)`` each."""
    return Answer(
        status,
        [
            {"message": message, "errorCode": code, "fields": fields}
            for code, message, fields in errors
        ],
    )


def hubspot_error(status: int, category: str, message: str) -> Answer:
    return Answer(
        status,
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        },
        {"Retry-After": "1"} if status == 429 else {},
    )


def teams_undelivered(status: int) -> Answer:
    """A classic Teams webhook's HTTP 200 that says the message was not delivered."""
    return Answer(
        200,
        "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP "
        f"error {status} with ContextId tcid=0,server=msgapi-production,cv=fake.0.",
    )


def plain(status: int, body: str = "") -> Answer:
    return Answer(status, body)


@dataclass(frozen=True, slots=True)
class Sent:
    """One request a fake received (credentials redacted), with the status it answered."""

    provider: Provider
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    status: int
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "at": self.at.isoformat(),
            "headers": dict(self.headers),
            "body": self.body,
        }


_SALESFORCE_PREFIXES: Final = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
}
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _salesforce_id(sobject: str, number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
        if number == 0:
            break
    return _SALESFORCE_PREFIXES.get(sobject, "a0B") + digits.rjust(12, "0") + "AAA"


def provider_settings(base_url: str, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    """The executor's settings (environment variables) that send every HTTP provider to the
    fakes served at ``base_url``."""
    return {
        "SLACK_API_URL": f"{base_url}/slack/api",
        "SLACK_BOT_TOKEN": token,
        "TEAMS_WEBHOOK_URL": f"{base_url}/teams/incoming",
        "SALESFORCE_INSTANCE_URL": f"{base_url}/salesforce",
        "SALESFORCE_ACCESS_TOKEN": token,
        "HUBSPOT_API_URL": f"{base_url}/hubspot",
        "HUBSPOT_ACCESS_TOKEN": token,
    }


class ProviderFakes:
    """The fakes' application and what they received; ``extra_sent`` adds other records (the
    dev sink's SMTP messages) to the listing."""

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.sent: list[Sent] = []
        self.slack_channels: set[str] | None = None
        self.salesforce_records: dict[tuple[str, str], dict[str, Any]] = {}
        self.salesforce_required: dict[str, list[str]] = {}
        self.hubspot_objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.extra_sent: Callable[[], list[Sent]] | None = None
        self._script: dict[str, list[Answer]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024**2)
        app.router.add_post("/slack/api/chat.postMessage", self._slack)
        app.router.add_post("/teams/{hook:.*}", self._teams)
        sobjects = "/salesforce/services/data/{version}/sobjects/{object}"
        app.router.add_post(sobjects, self._salesforce_create)
        app.router.add_post(sobjects + "/", self._salesforce_create)
        app.router.add_patch(sobjects + "/{id}", self._salesforce_update)
        objects = "/hubspot/crm/v3/objects/{type}"
        app.router.add_post(objects, self._hubspot_create)
        app.router.add_patch(objects + "/{id}", self._hubspot_update)
        app.router.add_route("*", "/webhooks/{path:.*}", self._webhook)
        app.router.add_get("/healthz", self._alive)
        app.router.add_get("/readyz", self._alive)
        app.router.add_get("/sent", self._list_json)
        app.router.add_get("/", self._list_page)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def urls(self) -> dict[str, str]:
        """The executor's settings that send every provider here."""
        return provider_settings(self.base_url, self.token)

    def webhook_url(self, path: str = "hook") -> str:
        return f"{self.base_url}/webhooks/{path}"

    # --- scripting and inspection ----------------------------------------------------------------

    def answer_next(self, provider: Provider, *answers: Answer) -> None:
        """The next requests to ``provider`` get ``answers``, one each, in order."""
        self._script[provider].extend(answers)

    def received(self, provider: Provider) -> list[Sent]:
        return [sent for sent in self.sent if sent.provider == provider]

    async def wait_for(self, provider: Provider, count: int, within: float = 30) -> list[Sent]:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received(provider)) >= count)
        return self.received(provider)

    # --- the providers ----------------------------------------------------------------------------

    async def _record(
        self, provider: Provider, request: web.Request, body: Any, answer: web.Response
    ) -> web.Response:
        headers = {
            name: "(redacted)" if name.lower() in REDACTED_HEADERS else value
            for name, value in request.headers.items()
        }
        async with self._arrived:
            self.sent.append(
                Sent(provider, request.method, request.path, headers, body, answer.status)
            )
            self._arrived.notify_all()
        return answer

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", errors="replace")

    def _scripted(self, provider: Provider) -> web.Response | None:
        script = self._script[provider]
        return script.pop(0).response() if script else None

    def _bearer_ok(self, request: web.Request) -> bool | None:
        """True for the right token, False for a wrong one, None for none at all."""
        header = request.headers.get("Authorization")
        if header is None:
            return None
        return header == f"Bearer {self.token}"

    async def _slack(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer = self._scripted("slack") or self._slack_answer(request, body)
        return await self._record("slack", request, body, answer)

    def _slack_answer(self, request: web.Request, body: Any) -> web.Response:
        authorized = self._bearer_ok(request)
        if authorized is None:
            return slack_error("not_authed").response()
        if not authorized:
            return slack_error("invalid_auth").response()
        if not isinstance(body, dict) or not body.get("channel"):
            return slack_error("channel_not_found").response()
        if not body.get("text"):
            return slack_error("no_text").response()
        channel = str(body["channel"])
        if self.slack_channels is not None and channel not in self.slack_channels:
            return slack_error("channel_not_found").response()
        ts = f"{datetime.now(UTC).timestamp():.6f}"
        return web.json_response(
            {
                "ok": True,
                "channel": "C" + uuid.uuid5(uuid.NAMESPACE_URL, channel).hex[:10].upper(),
                "ts": ts,
                "message": {
                    "type": "message",
                    "subtype": "bot_message",
                    "text": body["text"],
                    "ts": ts,
                },
            }
        )

    async def _teams(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer = self._scripted("teams") or web.Response(text="1")
        return await self._record("teams", request, body, answer)

    def _salesforce_refusal(self, request: web.Request) -> web.Response | None:
        if self._bearer_ok(request):
            return None
        return salesforce_errors(
            401, ("INVALID_SESSION_ID", "Session expired or invalid", [])
        ).response()

    async def _salesforce_create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        sobject = request.match_info["object"]
        answer = self._scripted("salesforce") or self._salesforce_refusal(request)
        if answer is None:
            fields = body if isinstance(body, dict) else {}
            missing = [
                name
                for name in self.salesforce_required.get(sobject, [])
                if fields.get(name) in (None, "")
            ]
            if missing:
                answer = salesforce_errors(
                    400,
                    ("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing),
                ).response()
            else:
                record_id = _salesforce_id(sobject, next(self._ids))
                self.salesforce_records[(sobject, record_id)] = dict(fields)
                answer = web.json_response(
                    {"id": record_id, "success": True, "errors": []}, status=201
                )
        return await self._record("salesforce", request, body, answer)

    async def _salesforce_update(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        key = (request.match_info["object"], request.match_info["id"])
        answer = self._scripted("salesforce") or self._salesforce_refusal(request)
        if answer is None:
            if key not in self.salesforce_records:
                answer = salesforce_errors(
                    404, ("NOT_FOUND", "The requested resource does not exist", [])
                ).response()
            else:
                self.salesforce_records[key].update(body if isinstance(body, dict) else {})
                answer = web.Response(status=204)
        return await self._record("salesforce", request, body, answer)

    def _hubspot_refusal(self, request: web.Request) -> web.Response | None:
        if self._bearer_ok(request):
            return None
        return hubspot_error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        ).response()

    def _hubspot_object(self, object_type: str, object_id: str) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        properties = {
            name: None if value is None else str(value)
            for name, value in self.hubspot_objects[(object_type, object_id)].items()
        }
        return {
            "id": object_id,
            "properties": {**properties, "hs_object_id": object_id},
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }

    async def _hubspot_create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        object_type = request.match_info["type"]
        answer = self._scripted("hubspot") or self._hubspot_refusal(request)
        if answer is None:
            properties = body.get("properties") if isinstance(body, dict) else None
            if not isinstance(properties, dict):
                answer = hubspot_error(
                    400, "VALIDATION_ERROR", "Invalid input JSON: 'properties' is required"
                ).response()
            else:
                existing = next(
                    (
                        object_id
                        for (kind, object_id), known in self.hubspot_objects.items()
                        if kind == object_type == "contacts"
                        and properties.get("email")
                        and known.get("email") == properties.get("email")
                    ),
                    None,
                )
                if existing is not None:
                    answer = hubspot_error(
                        409, "CONFLICT", f"Contact already exists. Existing ID: {existing}"
                    ).response()
                else:
                    object_id = str(next(self._ids) + 1000)
                    self.hubspot_objects[(object_type, object_id)] = dict(properties)
                    answer = web.json_response(
                        self._hubspot_object(object_type, object_id), status=201
                    )
        return await self._record("hubspot", request, body, answer)

    async def _hubspot_update(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        key = (request.match_info["type"], request.match_info["id"])
        answer = self._scripted("hubspot") or self._hubspot_refusal(request)
        if answer is None:
            if key not in self.hubspot_objects:
                answer = hubspot_error(404, "OBJECT_NOT_FOUND", "resource not found").response()
            else:
                properties = body.get("properties") if isinstance(body, dict) else None
                self.hubspot_objects[key].update(properties if isinstance(properties, dict) else {})
                answer = web.json_response(self._hubspot_object(*key))
        return await self._record("hubspot", request, body, answer)

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer = self._scripted("webhook") or web.json_response({"ok": True})
        return await self._record("webhook", request, body, answer)

    # --- the listing --------------------------------------------------------------------------------

    def everything_sent(self) -> list[Sent]:
        extra = self.extra_sent() if self.extra_sent is not None else []
        return sorted([*self.sent, *extra], key=lambda sent: sent.at, reverse=True)

    async def _alive(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _list_json(self, _request: web.Request) -> web.Response:
        return web.json_response({"items": [sent.to_json() for sent in self.everything_sent()]})

    async def _list_page(self, _request: web.Request) -> web.Response:
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td><pre>{}</pre></td></tr>".format(
                html.escape(sent.at.strftime("%H:%M:%S")),
                html.escape(sent.provider),
                html.escape(sent.method),
                html.escape(sent.path),
                sent.status,
                html.escape(
                    json.dumps(sent.body, indent=2, ensure_ascii=False)
                    if not isinstance(sent.body, str)
                    else sent.body
                ),
            )
            for sent in self.everything_sent()
        )
        page = (
            "<!doctype html><meta charset=utf-8><title>Development sink</title>"
            "<style>body{font-family:sans-serif}td{vertical-align:top;border-top:1px solid #ccc;"
            "padding:4px}pre{margin:0;white-space:pre-wrap}</style>"
            "<h1>What the workflows sent</h1><p>Newest first; <a href=/sent>as JSON</a>.</p>"
            "<table><tr><th>at</th><th>to</th><th>request</th><th>answer</th><th>body</th></tr>"
            f"{rows}</table>"
        )
        return web.Response(text=page, content_type="text/html")
