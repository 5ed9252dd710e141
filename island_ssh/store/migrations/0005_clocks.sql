-- The island's clock as state (issue 13). island_clocks holds the current clock of each island
-- (one row per island id; `generation` says which generation it belongs to: a restart carries it
-- to the next generation in the same commit, a new launch on the id writes its own), with the
-- last proof (what the island read back after the last change). clock_changes is the history,
-- append-only like island_events. clock_timelines are the stored timelines the service runs;
-- `next_step` is the index of the next step to apply, claimed with a conditional UPDATE so that
-- several processes never apply one step twice.
-- anchor 'start': the state's real_epoch is the server's start, known only roughly until the island
-- registers (just before its server starts) and exactly at the first read-back (the probe measures
-- S); 'real': the state is anchored on real time and exact.
-- islands.clock_offset_seconds / clock_setting stay up to date for older readers.

CREATE TABLE island_clocks (
    island_id INT UNSIGNED NOT NULL,
    generation INT UNSIGNED NOT NULL,
    state LONGTEXT NOT NULL CHECK (JSON_VALID(state)),
    setting_text VARCHAR(255) NOT NULL DEFAULT '',
    set_by_kind VARCHAR(32) NOT NULL DEFAULT '',
    set_by_id VARCHAR(128) NOT NULL DEFAULT '',
    set_by_name VARCHAR(128) NOT NULL DEFAULT '',
    set_at DATETIME(6) NOT NULL,
    server_start DOUBLE NULL,
    anchor VARCHAR(16) NOT NULL DEFAULT 'real',
    asked_epoch DOUBLE NULL,
    read_epoch DOUBLE NULL,
    read_diff DOUBLE NULL,
    read_real_at DOUBLE NULL,
    proved_at DATETIME(6) NULL,
    PRIMARY KEY (island_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE clock_changes (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    island_id INT UNSIGNED NOT NULL,
    generation INT UNSIGNED NOT NULL,
    `at` DATETIME(6) NOT NULL,
    actor_kind VARCHAR(32) NOT NULL DEFAULT '',
    actor_id VARCHAR(128) NOT NULL DEFAULT '',
    actor_name VARCHAR(128) NOT NULL DEFAULT '',
    source VARCHAR(16) NOT NULL,
    request VARCHAR(255) NOT NULL DEFAULT '',
    state LONGTEXT NULL CHECK (state IS NULL OR JSON_VALID(state)),
    asked_epoch DOUBLE NULL,
    read_epoch DOUBLE NULL,
    read_diff DOUBLE NULL,
    ok TINYINT(1) NOT NULL,
    error TEXT NULL,
    timeline_id BIGINT UNSIGNED NULL,
    PRIMARY KEY (id),
    KEY clock_changes_island (island_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE clock_timelines (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    island_id INT UNSIGNED NOT NULL,
    generation INT UNSIGNED NOT NULL,
    created_by_id VARCHAR(128) NOT NULL DEFAULT '',
    created_by_name VARCHAR(128) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    request TEXT NOT NULL,
    steps LONGTEXT NOT NULL CHECK (JSON_VALID(steps)),
    started_at DOUBLE NOT NULL,
    next_step INT UNSIGNED NOT NULL DEFAULT 0,
    next_due DOUBLE NULL,
    state VARCHAR(16) NOT NULL,
    ended_at DATETIME(6) NULL,
    last_error TEXT NULL,
    PRIMARY KEY (id),
    KEY clock_timelines_due (state, next_due),
    KEY clock_timelines_island (island_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
