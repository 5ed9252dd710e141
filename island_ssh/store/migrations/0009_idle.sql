-- Idle islands (issue 14): what the batched probe (kube/idle_probe.py) saw of each island's game
-- ports, per generation (idle_generation: values of an older generation, before a restart, are
-- ignored and overwritten). All times UTC, from the database's clock.
-- quiet_since: start of the current quiet period (no established connection seen since);
-- idle_since: set once that lasted islands.idle_after (= quiet_since); last_activity_at: the last
-- check that saw an established connection on one of its ports; activity_checked_at: the last
-- check that could read its table (an unknown check changes nothing); idle_warned_at: when the
-- idle warning went out (islands.idle_expire).
-- island_idle_runs: when the idle check last ran, so several workers (and recover) run it once
-- per islands.idle_check_interval (claimed under a named lock).

ALTER TABLE islands
    ADD COLUMN idle_generation INT UNSIGNED NULL,
    ADD COLUMN quiet_since DATETIME(6) NULL,
    ADD COLUMN idle_since DATETIME(6) NULL,
    ADD COLUMN last_activity_at DATETIME(6) NULL,
    ADD COLUMN activity_checked_at DATETIME(6) NULL,
    ADD COLUMN idle_warned_at DATETIME(6) NULL;

CREATE TABLE island_idle_runs (
    name VARCHAR(64) NOT NULL,
    last_run_at DATETIME(6) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
