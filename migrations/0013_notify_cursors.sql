-- Notifications (`[notify]` in .orch/config.toml): per run, the newest event a notifier
-- has claimed. A notifier advances it in the same transaction that reads the batch it
-- claims, so two processes following one run (`orch up` and its supervisors) never
-- send the same event.

CREATE TABLE notify_cursors (
    run_id         TEXT PRIMARY KEY NOT NULL REFERENCES runs(run_id),
    last_event_id  INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
