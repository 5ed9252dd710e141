-- The audit log (issue 14): who did what to which island. Append-only: the store never updates
-- or deletes an entry. actor_kind: user | operator | recover | tracker | lease-reaper | timeline |
-- idle-reaper; actor_id/actor_name: the user's id and display name ('' for the operator and jobs).
-- island_id is NULL for actions about no island (a refused bulk launch). owner_id: the island's
-- owner when the entry was written, so a tester keeps seeing their island's trail after its id
-- is handed to someone else (a non-admin reads entries they caused or about islands they owned).

CREATE TABLE island_audit (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `at` DATETIME(6) NOT NULL,
    actor_kind VARCHAR(32) NOT NULL,
    actor_id VARCHAR(128) NOT NULL DEFAULT '',
    actor_name VARCHAR(128) NOT NULL DEFAULT '',
    action VARCHAR(48) NOT NULL,
    island_id INT UNSIGNED NULL,
    generation INT UNSIGNED NULL,
    owner_id VARCHAR(128) NULL,
    detail TEXT NULL,
    PRIMARY KEY (id),
    KEY island_audit_island (island_id, id),
    KEY island_audit_actor (actor_id, id),
    KEY island_audit_owner (owner_id, id),
    KEY island_audit_action (action, `at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
