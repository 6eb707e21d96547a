"""Committing a partition up to its lowest unfinished record while records finish in any order."""

from __future__ import annotations

import random

from shared.kafka import PartitionProgress


def test_nothing_is_committable_before_the_first_record() -> None:
    progress = PartitionProgress()
    assert progress.commit_offset is None
    assert progress.next_offset is None
    assert progress.in_flight == 0


def test_the_commit_offset_stops_at_the_lowest_unfinished_record() -> None:
    progress = PartitionProgress()
    for offset in (10, 11, 12, 13):
        progress.started(offset)
    assert progress.commit_offset == 10
    progress.finished(12)
    progress.finished(11)
    assert progress.commit_offset == 10
    assert progress.in_flight == 4
    progress.finished(10)
    assert progress.commit_offset == 13
    assert progress.in_flight == 1
    progress.finished(13)
    assert progress.commit_offset == 14
    assert progress.next_offset == 14
    assert progress.in_flight == 0


def test_gaps_in_offsets_are_fine() -> None:
    progress = PartitionProgress()
    for offset in (3, 7, 9):
        progress.started(offset)
    progress.finished(7)
    progress.finished(3)
    assert progress.commit_offset == 9
    progress.finished(9)
    assert progress.commit_offset == 10


def test_in_any_finishing_order_the_commit_offset_never_passes_an_unfinished_record() -> None:
    generator = random.Random(7)
    for _ in range(200):
        offsets = list(range(generator.randrange(1, 40)))
        progress = PartitionProgress()
        for offset in offsets:
            progress.started(offset)
        unfinished = set(offsets)
        for offset in generator.sample(offsets, len(offsets)):
            progress.finished(offset)
            unfinished.discard(offset)
            expected = min(unfinished) if unfinished else len(offsets)
            assert progress.commit_offset == expected
