"""Tenants' time zones, read through the tenancy view ``tenant_settings`` and kept in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared import tenancy
from shared.postgres import Pool

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "UTC"


class PostgresTenantZones:
    """``TenantZones`` over ``shared.tenancy.tenant_timezones``; a zone this machine does not
    know (written past the config API's validation) counts as UTC and is logged once."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._zones: dict[str, str] = {}
        self._reported: set[str] = set()

    def timezone(self, tenant_id: str) -> str:
        return self._zones.get(tenant_id, DEFAULT_TIMEZONE)

    def known(self) -> dict[str, str]:
        return dict(self._zones)

    async def load(self, tenant_ids: Iterable[str]) -> None:
        for tenant_id in set(tenant_ids) - self._zones.keys():
            name = await tenancy.tenant_timezone(self._pool, tenant_id)
            self._zones[tenant_id] = self._usable(tenant_id, name)

    async def refresh(self) -> dict[str, str]:
        current = await tenancy.tenant_timezones(self._pool)
        self._zones = {tenant: self._usable(tenant, name) for tenant, name in current.items()}
        return dict(self._zones)

    def _usable(self, tenant_id: str, name: str | None) -> str:
        if name is None:
            return DEFAULT_TIMEZONE
        try:
            return tenancy.valid_timezone(name)
        except ValueError:
            if tenant_id not in self._reported:
                self._reported.add(tenant_id)
                log.error(
                    "tenant time zone unknown; using UTC",
                    extra={"tenant": tenant_id, "timezone": name[:64]},
                )
            return DEFAULT_TIMEZONE
