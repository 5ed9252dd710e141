-- Code version per island (issue 15): the first line of islands.code_version_file on the shared
-- code volume, as the island's entry script read it at start and sent with its registration.
-- code_version: the version; '' = no version file; '!unreadable' = the file held no valid version
-- (core/code_version.py); NULL = never reported (an island from before this migration, or not
-- registered yet). code_version_at: when it was registered (UTC). code_version_generation: the
-- generation they belong to; values of an older generation (before a restart or a reuse of the
-- id) are ignored until the new pod registers (store/rows.py).
-- branch_code_versions: the version file as each node of a branch holds it NOW, read through one
-- running island per node (service/code_versions.py), cached for islands.code_version_check_interval
-- and shared by every worker and the CLI. version NULL = the read failed (error says why).

ALTER TABLE islands
    ADD COLUMN code_version VARCHAR(128) NULL,
    ADD COLUMN code_version_at DATETIME(6) NULL,
    ADD COLUMN code_version_generation INT UNSIGNED NULL;

CREATE TABLE branch_code_versions (
    branch VARCHAR(64) NOT NULL,
    node VARCHAR(253) NOT NULL,
    version VARCHAR(128) NULL,
    pod VARCHAR(253) NOT NULL DEFAULT '',
    error VARCHAR(255) NOT NULL DEFAULT '',
    read_at DATETIME(6) NOT NULL,
    PRIMARY KEY (branch, node)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
