-- An attempt is settled once nothing more will happen for it: its supervisor recorded how
-- it ended and applied the retry policy (or there was no supervisor to wait for).
-- `orch up` only looks at unsettled attempts, so its work per tick does not grow with
-- the run.
ALTER TABLE attempts ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX attempts_unsettled ON attempts (run_id, settled);
