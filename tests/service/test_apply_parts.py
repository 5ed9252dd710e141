"""How a batch of launches is cut into parts applied at once (service/applying.split_parts)."""

from __future__ import annotations

import pytest

from island_ssh.service.applying import split_parts


@pytest.mark.parametrize("count, parts, min_part, expected", [
    (0, 2, 20, []),
    (1, 2, 20, [1]),
    (39, 2, 20, [39]),        # two parts would be under 20 each: one
    (40, 2, 20, [20, 20]),
    (41, 2, 20, [21, 20]),
    (400, 2, 20, [200, 200]),
    (7, 3, 1, [3, 2, 2]),
    (5, 8, 1, [1, 1, 1, 1, 1]),  # never more parts than islands, none empty
    (10, 1, 1, [10]),
])
def test_parts_are_contiguous_near_equal_and_lose_nothing(count, parts, min_part, expected):
    items = list(range(count))
    runs = split_parts(items, parts, min_part)
    assert [len(run) for run in runs] == expected
    assert sum(runs, []) == items
