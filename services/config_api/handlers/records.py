"""The product's own records: list (newest first, filtered) and get, read-only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from services.config_api.domain import (
    Cursor,
    InvalidInput,
    Page,
    ProductRecord,
    ProductResource,
)
from services.config_api.handlers.paging import page_of
from shared.tenancy import Principal


class ProductRecordReader(Protocol):
    """Reads the executor's published records; every method is scoped by ``tenant_id``."""

    async def list(
        self,
        resource: ProductResource,
        tenant_id: str,
        *,
        filters: list[str | None],
        before: Cursor | None,
        limit: int,
    ) -> list[ProductRecord]:
        """Newest first, matching every filter given (in ``resource.filters`` order)."""

    async def get(
        self, resource: ProductResource, tenant_id: str, record_id: str
    ) -> ProductRecord | None: ...


async def list_product_records(
    records: ProductRecordReader,
    principal: Principal,
    resource: ProductResource,
    query: Mapping[str, str],
    *,
    cursor: str | None,
    limit: int,
) -> Page:
    """Filters come from the query parameters ``resource.filters`` names; a value outside a
    filter's choices is a 422 naming the parameter."""
    filters: list[str | None] = []
    for accepted in resource.filters:
        value = query.get(accepted.parameter)
        if value is not None and accepted.enum is not None and value not in accepted.enum:
            raise InvalidInput(
                "invalid filter",
                [
                    {
                        "path": f"query.{accepted.parameter}",
                        "message": f"one of {list(accepted.enum)}",
                    }
                ],
            )
        filters.append(value)
    before = Cursor.decode(cursor) if cursor else None
    found = await records.list(
        resource, principal.tenant_id, filters=filters, before=before, limit=limit + 1
    )
    return page_of(found, limit, lambda last: last.cursor.encode())


async def get_product_record(
    records: ProductRecordReader, principal: Principal, resource: ProductResource, record_id: str
) -> ProductRecord | None:
    return await records.get(resource, principal.tenant_id, record_id)
