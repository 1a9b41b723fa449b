"""The driver's per-request "Server warning" lines are logged once per kind and counted."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cassflow.copy._server_warnings import DRIVER_LOGGER, RepeatedServerWarnings


@pytest.fixture
def driver_log(caplog: pytest.LogCaptureFixture) -> Iterator[RepeatedServerWarnings]:
    held = RepeatedServerWarnings()
    logger = logging.getLogger(DRIVER_LOGGER)
    logger.addFilter(held)
    caplog.set_level(logging.WARNING, logger=DRIVER_LOGGER)
    yield held
    logger.removeFilter(held)


def test_each_kind_of_server_warning_is_logged_once_and_the_rest_counted(
    driver_log: RepeatedServerWarnings, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(DRIVER_LOGGER)
    # As cassandra.protocol logs them: the sizes differ from batch to batch.
    for size in ("6.2", "7.9", "5.1"):
        logger.warning(
            "Server warning: %s",
            f"Batch for [ks.t] is of size {size}KiB, exceeding specified threshold of "
            "5.000KiB by 1.2KiB.",
        )
    for partitions in (11, 12):
        logger.warning(
            "Server warning: %s",
            f"Unlogged batch covering {partitions} partitions detected against table [ks.t].",
        )
    logger.warning("Unknown protocol flags set: %02x. May cause problems.", 0x40)

    logged = [r.getMessage() for r in caplog.records if r.name == DRIVER_LOGGER]
    assert logged == [
        "Server warning: Batch for [ks.t] is of size 6.2KiB, exceeding specified threshold "
        "of 5.000KiB by 1.2KiB.",
        "Server warning: Unlogged batch covering 11 partitions detected against table [ks.t].",
        "Unknown protocol flags set: 40. May cause problems.",
    ]
    assert sorted(driver_log.counts.values()) == [2, 3]
    summary = driver_log.summary()
    assert summary is not None
    assert summary.startswith("3 more server warnings")
    assert "2 x Batch for [ks.t] is of size NKiB" in summary
    assert "1 x Unlogged batch covering N partitions" in summary


def test_no_summary_when_nothing_was_held_back(driver_log: RepeatedServerWarnings) -> None:
    logging.getLogger(DRIVER_LOGGER).warning("Server warning: %s", "Aggregation query used.")
    assert driver_log.summary() is None
