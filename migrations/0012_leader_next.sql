-- What `orch next` needs to tell the leader (issue 12).
--
-- `finished_event_id`: the `run_finished` event of the run's current finish, NULL while
-- the run is not finished. The store's fold emits `run_finished` once when the run
-- reaches done, failed or cancelled and records it here; a task that becomes active
-- again (a retry, a new task) clears it (the triggers below, so no write path can
-- forget), and a later finish emits again. A cancelled run stays finished.
--
-- `up_pid`, `up_start`: the `orch up` that runs the run (its pid and its start time in
-- clock ticks after boot, to tell a reused pid from it), NULL when none does. `orch up`
-- sets them when it starts and clears them when it ends (`up_started`, `up_stopped`
-- events); one that died is cleared by the next reader that notices. `up_event_id`: the
-- latest of those two events (when ready tasks became the leader's to dispatch).

ALTER TABLE runs ADD COLUMN finished_event_id INTEGER;
ALTER TABLE runs ADD COLUMN up_pid INTEGER;
ALTER TABLE runs ADD COLUMN up_start INTEGER;
ALTER TABLE runs ADD COLUMN up_event_id INTEGER;

CREATE TRIGGER run_reopened_on_task_update
AFTER UPDATE OF status ON tasks
WHEN NEW.status IN ('ready', 'dispatched', 'running', 'blocked', 'verifying')
BEGIN
    UPDATE runs SET finished_event_id = NULL
    WHERE run_id = NEW.run_id AND finished_event_id IS NOT NULL AND cancelled = 0;
END;

CREATE TRIGGER run_reopened_on_task_insert
AFTER INSERT ON tasks
WHEN NEW.status IN ('ready', 'dispatched', 'running', 'blocked', 'verifying')
BEGIN
    UPDATE runs SET finished_event_id = NULL
    WHERE run_id = NEW.run_id AND finished_event_id IS NOT NULL AND cancelled = 0;
END;
