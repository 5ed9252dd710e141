-- The registration table the container's entry script fills through the management server
-- (the studio's server list). Its name comes from database.registration_table; the migration
-- runner substitutes {{registration_table}} with the checked, backquoted name.
-- IF NOT EXISTS: a studio that already keeps such a table keeps it.

CREATE TABLE IF NOT EXISTS {{registration_table}} (
    island_id INT UNSIGNED NOT NULL,
    node_ip VARCHAR(45) NOT NULL,
    ports VARCHAR(255) NOT NULL,
    pod_name VARCHAR(253) NOT NULL,
    registered_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (island_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
