"""Fixtures of the copy engine's tests: a real PostgreSQL server (see ``tests/pg.py``), S3 from
a moto server and Azure Blob from Azurite (see ``tests/cloud.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from cloud import CloudStorage, azurite_blob, moto_s3

if TYPE_CHECKING:
    from pg import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL for the whole session (skipped when the binaries are missing)."""
    from pg import postgres_server  # imported here: only the SQL tests need it

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_storage() -> Iterator[CloudStorage]:
    """A bucket on a moto S3 server for the session; write under ``s3_storage.prefix()``."""
    with moto_s3() as storage:
        yield storage


@pytest.fixture(scope="session")
def azure_storage() -> Iterator[CloudStorage]:
    """A container on Azurite for the session (skipped without Azurite, failed under CI)."""
    with azurite_blob() as storage:
        yield storage
