-- Each task's `orch status` row, kept rendered as JSON with the task, so `status` reads
-- 1,000 stored texts instead of building 1,000 JSON objects (with their joins and
-- timestamp formatting) on every call. `task_status_rows` is the one definition of the
-- row; the triggers below re-render a task whenever anything its row shows changes, in
-- the same transaction as the change. Nothing is ever deleted from these tables, so no
-- DELETE triggers are needed; messages and artifacts are never updated.
-- `Store::integrity_problems` compares the stored rows with the view, and
-- tests/it/status_rows.rs checks them after every command of a workflow.
--
-- Timestamps: `datetime(ms / 1000.0, 'unixepoch', 'subsec')` with the space replaced by
-- `T` and a `Z` appended is exactly `time::rfc3339` (a test checks it); it is ~4x
-- cheaper than `strftime`.

ALTER TABLE tasks ADD COLUMN status_json TEXT;

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
            'workspace_status', a.workspace_status) END,
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

-- The task's own columns (not `status_json`, so the re-render does not fire it again).
CREATE TRIGGER task_row_on_task_insert AFTER INSERT ON tasks
BEGIN
    UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = NEW.id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER task_row_on_task_update
AFTER UPDATE OF task_id, title, status, priority, default_to, execution_mode,
    depends_on_json, checks_json, current_attempt, updated_at ON tasks
BEGIN
    UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = NEW.id)
    WHERE id = NEW.id;
END;

-- The latest attempt. A new attempt needs no trigger of its own: it shows once
-- `current_attempt` points at it, and that is a task update (the same transaction).
CREATE TRIGGER task_row_on_attempt_update
AFTER UPDATE OF task, attempt_no, thread_id, assigned_to, worktree_path, workspace_status
    ON attempts
BEGIN
    UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = tasks.id)
    WHERE id IN (NEW.task, OLD.task);
END;

-- The attempt's thread: its status and latest message.
CREATE TRIGGER task_row_on_thread_update AFTER UPDATE OF status, last_message_id ON threads
BEGIN
    UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = tasks.id)
    WHERE id IN (SELECT a.task FROM attempts a WHERE a.thread_id = NEW.thread_id);
END;

-- A blocked task's newest question and its artifacts need no triggers of their own:
-- every message is written with its artifacts and then recorded as its thread's
-- `last_message_id` in the same transaction, which fires the thread trigger above.

UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = tasks.id);
