"""The relay packs rows into per-partition batches itself; a key must land where `send` would put it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from baton_kit.outbox import _partition


def test_a_key_goes_to_the_partition_aiokafka_picks_for_it() -> None:
    for count in (1, 3, 7, 12):
        partitions = list(range(count))
        for n in range(2_000):
            key = f"lead-{n:05d}".encode()
            assert _partition(partitions, key) == DefaultPartitioner()(key, partitions, partitions)


def test_a_keyless_row_goes_to_some_partition() -> None:
    assert {_partition([0, 1, 2], None) for _ in range(200)} == {0, 1, 2}
