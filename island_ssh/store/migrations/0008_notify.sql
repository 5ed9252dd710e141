-- Notifications (issue 14): an outbox of webhook calls, one row per (event, webhook), and the
-- position of the delivery worker in island_events (where ready/failed come from).
-- `dedupe` makes each notification once: the worker re-reading events after a restart, or two
-- processes emitting the same key, insert nothing new (INSERT IGNORE).
-- state: pending (next_at says when to call) | delivered | failed (gave up; last_error says why).

CREATE TABLE notify_outbox (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    dedupe VARCHAR(190) NOT NULL,
    webhook VARCHAR(64) NOT NULL,
    event VARCHAR(32) NOT NULL,
    island_id INT UNSIGNED NULL,
    generation INT UNSIGNED NULL,
    fields LONGTEXT NOT NULL CHECK (JSON_VALID(fields)),
    state VARCHAR(16) NOT NULL,
    attempts INT UNSIGNED NOT NULL DEFAULT 0,
    next_at DATETIME(6) NOT NULL,
    last_status INT NULL,
    last_error TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    finished_at DATETIME(6) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY notify_outbox_dedupe (dedupe),
    KEY notify_outbox_due (state, next_at),
    KEY notify_outbox_webhook (webhook, state, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE notify_cursor (
    name VARCHAR(64) NOT NULL,
    position BIGINT UNSIGNED NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
