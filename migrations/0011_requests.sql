-- Requests (issue 12): a verb that changes something, called with `--request-id ID`,
-- records its reply here so that a retried call (same id, same arguments) prints that
-- reply and exit code again and does nothing more. One row per id, kept for good: an id
-- names one call for the database's lifetime.
--
-- A row is a claim while `exit_code` is NULL: the call is under way in the process
-- `owner_pid` (started at `owner_start`, clock ticks after boot), or that process died
-- before it recorded its reply. `args_digest` is a digest of the verb's parsed arguments
-- (without --request-id, --json and --db), so the same id with other arguments is refused.

CREATE TABLE requests (
    request_id   TEXT PRIMARY KEY NOT NULL,
    -- `dispatch`, `task add`, ...
    verb         TEXT NOT NULL,
    args_digest  TEXT NOT NULL,
    owner_pid    INTEGER NOT NULL,
    owner_start  INTEGER NOT NULL,
    -- NULL until the reply is recorded.
    exit_code    INTEGER,
    -- 1 when the call succeeded (its text went to stdout), 0 when it failed (stderr).
    ok           INTEGER,
    -- The JSON document the call prints with --json, newline included.
    reply_json   TEXT,
    -- What it prints without --json: the human reply, or the `error: ...` line.
    reply_text   TEXT,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
) STRICT;
