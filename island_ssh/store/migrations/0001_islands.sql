-- Islands and their history.
-- One row per island id, created before first use; a row in state 'deleted' is a free id
-- (generation 0 = never used). The allocator locks free rows with SKIP LOCKED, so the
-- (state, island_id) index is what concurrent allocations walk.
-- Statements end with ';' at the end of a line (see migrations.py).

CREATE TABLE islands (
    island_id INT UNSIGNED NOT NULL,
    generation INT UNSIGNED NOT NULL DEFAULT 0,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    message MEDIUMTEXT NULL,
    pod_name VARCHAR(253) NULL,
    owner VARCHAR(128) NULL,
    branch VARCHAR(64) NULL,
    node VARCHAR(253) NULL,
    host_ip VARCHAR(45) NULL,
    port_base INT UNSIGNED NULL,
    clock_offset_seconds DOUBLE NULL,
    clock_setting VARCHAR(255) NULL,
    overrides LONGTEXT NULL CHECK (overrides IS NULL OR JSON_VALID(overrides)),
    token_hash CHAR(64) NULL,
    resource_version BIGINT NULL,
    created_at DATETIME(6) NULL,
    updated_at DATETIME(6) NULL,
    state_since DATETIME(6) NULL,
    ready_at DATETIME(6) NULL,
    deleted_at DATETIME(6) NULL,
    PRIMARY KEY (island_id),
    KEY islands_state (state, island_id),
    KEY islands_owner (owner, island_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Append-only: the store never updates or deletes an event.
CREATE TABLE island_events (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    island_id INT UNSIGNED NOT NULL,
    generation INT UNSIGNED NOT NULL,
    `at` DATETIME(6) NOT NULL,
    from_state VARCHAR(32) NULL,
    to_state VARCHAR(32) NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    message MEDIUMTEXT NULL,
    resource_version BIGINT NULL,
    PRIMARY KEY (id),
    KEY island_events_island (island_id, generation, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
