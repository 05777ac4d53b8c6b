"""Node IPAM's range allocator (pure)."""

from __future__ import annotations

import pytest

from kubelite_controller_manager.nodeipam.rules import next_free, subnet_count


def test_worked_example_lowest_free_range() -> None:
    used = ["10.244.0.0/24", "10.244.2.0/24"]
    assert next_free("10.244.0.0/16", 24, used) == "10.244.1.0/24"
    assert next_free("10.244.0.0/16", 24, [*used, "10.244.1.0/24"]) == "10.244.3.0/24"
    assert next_free("10.244.0.0/16", 24, []) == "10.244.0.0/24"


def test_a_full_range_and_overlaps() -> None:
    assert subnet_count("10.244.0.0/16", 24) == 256
    assert next_free("10.0.0.0/30", 31, ["10.0.0.0/31", "10.0.0.2/31"]) is None
    # a foreign range that overlaps several candidates takes them all
    assert next_free("10.244.0.0/16", 24, ["10.244.0.0/23"]) == "10.244.2.0/24"
    assert next_free("10.244.0.0/16", 24, ["garbage"]) == "10.244.0.0/24"
    with pytest.raises(ValueError, match="larger than the cluster CIDR"):
        subnet_count("10.244.0.0/16", 8)
