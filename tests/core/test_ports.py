import pytest

from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.ports import island_for_port, max_island_id, ports_for, validate_range


def test_seed_island_269_gets_the_seed_ports():
    assert ports_for(269) == (30807, 30808, 30809)


def test_ports_follow_start_and_stride():
    assert ports_for(0, 40000, 5) == (40000, 40001, 40002)
    assert ports_for(2, 40000, 5) == (40010, 40011, 40012)


def test_max_island_id_keeps_last_port_in_range():
    highest = max_island_id(30000, 3)
    assert highest == 11844
    assert ports_for(highest)[-1] <= 65535
    assert 30000 + 3 * (highest + 1) + 2 > 65535
    with pytest.raises(InvalidInput, match="outside"):
        ports_for(highest + 1)


@pytest.mark.parametrize("bad", [-1, True, "3", 1.0])
def test_ports_for_refuses_non_ids(bad):
    with pytest.raises(InvalidInput):
        ports_for(bad)


def test_validate_range_accepts_the_defaults():
    validate_range(1, 999, 30000, 3)
    validate_range(0, 11844, 30000, 3)


@pytest.mark.parametrize(
    "args, hint",
    [
        ((1, 20000, 30000, 3), "lower islands.id_max to 11844"),
        ((10, 5, 30000, 3), "islands.id_min=10 is above islands.id_max=5"),
        ((-1, 5, 30000, 3), "islands.id_min=-1"),
        ((1, 5, 30000, 2), "ports_per_island=2"),
        ((1, 5, 70000, 3), "islands.port_start=70000"),
    ],
)
def test_validate_range_says_what_to_change(args, hint):
    with pytest.raises(ConfigError) as info:
        validate_range(*args)
    assert hint in str(info.value)


def test_island_for_port_inverts_ports_for():
    for island_id in (0, 1, 269, 11844):
        for port in ports_for(island_id):
            assert island_for_port(port) == island_id


def test_island_for_port_outside_any_island():
    assert island_for_port(29999) is None
    assert island_for_port(65535) is None  # 30000 + 3*11845 would be the next block's start
    assert island_for_port(70000) is None
    assert island_for_port(40003, 40000, 5) is None  # gap port in a stride of 5
    assert island_for_port(40005, 40000, 5) == 1
