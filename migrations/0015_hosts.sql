-- Hosts (issue 13: one run across several hosts). Each `orch up --run R` registers its
-- host here and refreshes `heartbeat_at` every heartbeat interval; a host whose
-- heartbeat lapsed while it had not stopped is dead, and another host's `orch up` takes
-- over its unsettled attempts.
--
-- `run_hosts`: one row per host that ran the run (the newest `orch up` of that host):
-- its pid and start time (clock ticks after boot, to tell a reused pid from it),
-- when it started, its last heartbeat, `stopped_at` when it ended (it withdrew itself),
-- and `gone_at` when a reader found it gone (its process gone, or its heartbeat
-- lapsed) and recorded `up_stopped` for it. A new `orch up` of the host replaces the
-- row. It supersedes `runs.up_pid` and `runs.up_start` (migration 0012), which are no
-- longer written; `runs.up_event_id` still points at the latest `up_started` or
-- `up_stopped`.
CREATE TABLE run_hosts (
    run_id        TEXT NOT NULL REFERENCES runs(run_id),
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    start         INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,
    stopped_at    INTEGER,
    gone_at       INTEGER,
    PRIMARY KEY (run_id, host)
) STRICT, WITHOUT ROWID;

-- `host`: the host whose `orch up` (or `dispatch --launch`, ...) started the attempt's
-- supervisor ('' until one is started). `taken_by`: the host that took the attempt over
-- when `host` lapsed ('' otherwise); the host answerable for an unsettled attempt is
-- `taken_by` when set, else `host`. `epoch`: bumped by every claim of the attempt (a new
-- supervisor, a takeover); a supervisor learns it when it takes the attempt and every
-- write it makes is refused once it moved (the fence).
ALTER TABLE attempts ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN taken_by TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

-- `orch status` shows the host of each task's latest attempt: the view of migration 0008
-- with `host` in `latest_attempt`, and its trigger on attempts firing on `host` too.
DROP TRIGGER task_row_on_attempt_update;
DROP VIEW task_status_rows;

CREATE VIEW task_status_rows AS
SELECT t.id AS id,
    json_object(
        'task_id', t.task_id, 'title', t.title, 'status', t.status,
        'priority', t.priority, 'default_to', t.default_to, 'execution_mode', t.execution_mode,
        'depends_on', json(t.depends_on_json), 'required_checks', json(t.checks_json),
        'current_attempt', t.current_attempt,
        'updated_at', (replace(datetime(t.updated_at / 1000.0, 'unixepoch', 'subsec'), ' ', 'T') || 'Z'),
        'latest_attempt', CASE WHEN a.id IS NULL THEN NULL ELSE json_object(
            'attempt_no', a.attempt_no, 'thread_id', a.thread_id, 'status', th.status,
            'assigned_to', a.assigned_to, 'worktree_path', a.worktree_path,
            'workspace_status', a.workspace_status, 'host', a.host) END,
        'latest_message', CASE WHEN m.message_id IS NULL THEN NULL ELSE json_object(
            'message_id', m.message_id, 'kind', m.kind, 'summary', m.summary,
            'created_at', (replace(datetime(m.created_at / 1000.0, 'unixepoch', 'subsec'), ' ', 'T') || 'Z')) END,
        'blocked_question', CASE WHEN t.status = 'blocked' AND a.id IS NOT NULL THEN (
            SELECT json_object(
                'message_id', q.message_id, 'thread_id', q.thread_id,
                'from_agent', q.from_agent, 'to_agent', q.to_agent, 'kind', q.kind,
                'summary', q.summary, 'body', q.body, 'payload_json', json(q.payload_json),
                'created_at', (replace(datetime(q.created_at / 1000.0, 'unixepoch', 'subsec'), ' ', 'T') || 'Z'),
                'artifacts', (SELECT json_group_array(json_object(
                                  'path', r.path, 'kind', r.kind, 'metadata', json(r.metadata_json))
                                  ORDER BY r.id)
                              FROM artifacts r WHERE r.message_id = q.message_id))
            FROM messages q WHERE q.thread_id = a.thread_id AND q.kind = 'question'
            ORDER BY q.message_id DESC LIMIT 1) END
    ) AS obj
FROM tasks t
LEFT JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
LEFT JOIN threads th ON th.thread_id = a.thread_id
LEFT JOIN messages m ON m.message_id = th.last_message_id;

CREATE TRIGGER task_row_on_attempt_update
AFTER UPDATE OF task, attempt_no, thread_id, assigned_to, worktree_path, workspace_status, host
    ON attempts
BEGIN
    UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = tasks.id)
    WHERE id IN (NEW.task, OLD.task);
END;

UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = tasks.id);
