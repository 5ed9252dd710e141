-- Island leases (issue 14): every island ends at lease_expires_at (UTC), when the lease reaper
-- (a thread of every long-running service) or the recover job deletes it (reason LeaseExpired).
-- lease_warned_at: when its owner was warned (islands.lease_warning before the end); NULL until
-- then. Claiming a warning sets it under the row lock, so several workers warn once.
-- Rows written before this migration have no lease (NULL): the reaper gives each live one
-- islands.lease_default from its first pass, so an upgrade deletes nothing at once.
-- The index serves the reaper's "which leases end before T" (warnings and expiries).

ALTER TABLE islands
    ADD COLUMN lease_expires_at DATETIME(6) NULL,
    ADD COLUMN lease_warned_at DATETIME(6) NULL,
    ADD KEY islands_lease (lease_expires_at, island_id);
