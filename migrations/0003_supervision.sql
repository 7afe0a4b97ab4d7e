-- Supervision of attempts (issue 3): who runs the worker, with which adapter, what it
-- printed and how it ended. Pids are stored with their start times (field 22 of
-- /proc/PID/stat) so a reused pid is never mistaken for ours.

ALTER TABLE attempts ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN adapter TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN supervisor_pid INTEGER;
ALTER TABLE attempts ADD COLUMN supervisor_start INTEGER;
ALTER TABLE attempts ADD COLUMN worker_pid INTEGER;
ALTER TABLE attempts ADD COLUMN worker_start INTEGER;
ALTER TABLE attempts ADD COLUMN log_path TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN usage_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE attempts ADD COLUMN cost_usd REAL;
-- '' while running; then succeeded, failed, spawn_failed, auth_failed, rate_limited,
-- stalled, cancelled or lost
ALTER TABLE attempts ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN exit_code INTEGER;
ALTER TABLE attempts ADD COLUMN exit_signal INTEGER;
ALTER TABLE attempts ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN output_tail TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN reset_at INTEGER;
ALTER TABLE attempts ADD COLUMN leaked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN launched_at INTEGER;
ALTER TABLE attempts ADD COLUMN ended_at INTEGER;
