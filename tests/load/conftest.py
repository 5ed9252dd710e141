"""Registers the `load` marker (heavy runs: ISLAND_SSH_LOAD=1). Fixtures: tests/fixtures/load.py."""


def pytest_configure(config):
    config.addinivalue_line("markers", "load: load tests; sizes above 10 islands run only with ISLAND_SSH_LOAD=1")
