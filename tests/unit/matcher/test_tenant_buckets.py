"""The tenant-size buckets of ``matcher_workflows_loaded``: no tenant label, a size class."""

from __future__ import annotations

import pytest

from services.matcher.adapters.changelog import tenant_size_bucket


@pytest.mark.parametrize(
    ("workflows", "bucket"),
    [
        (1, "1"),
        (2, "2-10"),
        (10, "2-10"),
        (11, "11-100"),
        (1_000, "101-1000"),
        (10_001, "10001-100000"),
        (100_001, "100001+"),
    ],
)
def test_each_tenant_size_falls_in_one_bucket(workflows: int, bucket: str) -> None:
    assert tenant_size_bucket(workflows) == bucket
