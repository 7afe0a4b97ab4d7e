-- The retry policy (issue 4): adapters cooling down after a rate limit (seen by every
-- process and across restarts), and the note the next attempt's brief carries about the
-- one before it.

CREATE TABLE cooldowns (
    adapter     TEXT PRIMARY KEY NOT NULL,
    until_ms    INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    set_at      INTEGER NOT NULL
) STRICT;

ALTER TABLE attempts ADD COLUMN brief_note TEXT NOT NULL DEFAULT '';
