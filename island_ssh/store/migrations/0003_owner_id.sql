-- The owner's stable user id beside the display name (issue 11, identity): permission checks
-- compare owner_id, never owner, since two people may share a display name.
-- Rows written before this migration knew only the name, which was then also what permissions
-- compared: their owner_id is that name, so nobody gains or loses an island by upgrading.
-- Same size and binary collation as owner: ids compare exactly, byte for byte.

ALTER TABLE islands
    ADD COLUMN owner_id VARCHAR(128) NULL AFTER owner,
    ADD KEY islands_owner_id (owner_id, island_id);

UPDATE islands SET owner_id = owner WHERE owner_id IS NULL AND owner IS NOT NULL;
