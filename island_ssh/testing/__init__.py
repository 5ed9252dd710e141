"""Real local services for tests, benchmarks and the demo (sshd, MariaDB): maintained code, not mocks."""
