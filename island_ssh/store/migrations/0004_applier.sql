-- The launch queue made durable (issue 11, "nothing accepted is lost"). A row in `applying`
-- whose apply waits in a service process's queue names that process's MySQL named lock here.
-- The server drops a named lock when its connection ends, so a row whose applier lock is free
-- was accepted (201) by a process that died before running kubectl: start-up and recover apply
-- it again instead of releasing it. NULL once kubectl apply has started (the pod, or its absence
-- after recover.stuck_after, tells the rest) and for rows written before this migration.

ALTER TABLE islands ADD COLUMN applier VARCHAR(64) NULL;
