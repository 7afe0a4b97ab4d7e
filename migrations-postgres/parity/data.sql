-- The same writes on both backends (shared SQL), with the rendered status rows printed
-- at checkpoints; check-parity.sh compares the two outputs byte for byte. The table
-- `weird` (made by check-parity.sh before this file) holds one text with quotes,
-- backslashes, control characters, newlines, DEL, U+2028 and non-ASCII characters.

INSERT INTO runs (run_id, goal, created_at, updated_at)
VALUES ('r1', 'goal', 1795364669000, 1795364669000);

-- a: a plain ready task; b: prerequisites and checks as JSON (spaced, with escapes) and
-- the odd title; c, e: become blocked with an attempt; d: blocked with no attempt;
-- f: timestamps at SQLite's limits (the last one out of range: null).
INSERT INTO tasks (run_id, task_id, title, default_to, execution_mode, status, created_at, updated_at)
VALUES ('r1', 'a', 'First', 'worker-a', 'analysis', 'ready', 1795364669123, 1795364669123);
INSERT INTO tasks (run_id, task_id, title, summary, priority, priority_rank, default_to,
                   execution_mode, status, depends_on_json, checks_json, created_at, updated_at)
VALUES ('r1', 'b', (SELECT w FROM weird), (SELECT w FROM weird), 'high', 2, 'worker-b', 'code',
        'pending', '[ "a" ,
  "x\"y\u00e9\/" ]', '["test", "lint", "é 😀"]', 0, 0);
INSERT INTO tasks (run_id, task_id, title, default_to, execution_mode, status, checks_json,
                   created_at, updated_at)
VALUES ('r1', 'c', 'Ask: "which?"', 'worker-a', 'code', 'ready', '["test"]', 1, 999);
INSERT INTO tasks (run_id, task_id, title, status, created_at, updated_at)
VALUES ('r1', 'd', 'No attempt', 'blocked', -1, -1);
INSERT INTO tasks (run_id, task_id, title, status, created_at, updated_at)
VALUES ('r1', 'e', 'Blocked without question', 'ready', 5, 5);
INSERT INTO tasks (run_id, task_id, title, status, created_at, updated_at)
VALUES ('r1', 'f', 'Limits', 'done', -62198755200001, -210866760000000);
INSERT INTO tasks (run_id, task_id, title, status, created_at, updated_at)
VALUES ('r1', 'g', 'Out of range', 'done', 253402300799999, 253402300800000);
INSERT INTO deps (task, depends_on)
SELECT b.id, a.id FROM tasks b, tasks a WHERE b.task_id = 'b' AND a.task_id = 'a';
INSERT INTO task_checks (task, name, command, position)
SELECT id, 'test', 'cargo test', 0 FROM tasks WHERE task_id = 'b';

SELECT 'checkpoint 1: inserted';
SELECT task_id, status_json FROM tasks ORDER BY id;

-- Task a dispatched: a thread, an attempt, the task pointing at it, a first message.
INSERT INTO threads (thread_id, run_id, task_id, subject, created_by, assigned_to, status,
                     created_at, updated_at)
VALUES ('th-a-1', 'r1', 'a', 'Work on a', 'leader', 'worker-a', 'open', 1795364670000, 1795364670000);
INSERT INTO attempts (task, run_id, task_id, attempt_no, thread_id, assigned_to, execution_mode,
                      worktree_path, workspace_status, created_at, updated_at)
SELECT id, 'r1', 'a', 1, 'th-a-1', 'worker-a', 'analysis', '/tmp/wt "a"', 'clean',
       1795364670000, 1795364670000 FROM tasks WHERE task_id = 'a';
UPDATE tasks SET current_attempt = 1, status = 'dispatched', updated_at = 1795364670001
WHERE task_id = 'a';
INSERT INTO messages (thread_id, from_agent, to_agent, kind, summary, body, created_at)
VALUES ('th-a-1', 'leader', 'worker-a', 'brief', 'Do "a"
now', 'body', 1795364670002);
UPDATE threads SET last_message_id = (SELECT max(message_id) FROM messages WHERE thread_id = 'th-a-1'),
    updated_at = 1795364670002
WHERE thread_id = 'th-a-1';

-- Task c: dispatched, then two questions (the newer one with two artifacts), then a
-- progress note as the latest message; blocked.
INSERT INTO threads (thread_id, run_id, task_id, subject, created_by, assigned_to, status,
                     created_at, updated_at)
VALUES ('th-c-1', 'r1', 'c', 'Work on c', 'leader', 'worker-a', 'open', 1795364671000, 1795364671000);
INSERT INTO attempts (task, run_id, task_id, attempt_no, thread_id, assigned_to, execution_mode,
                      created_at, updated_at)
SELECT id, 'r1', 'c', 1, 'th-c-1', 'worker-a', 'code', 1795364671000, 1795364671000
FROM tasks WHERE task_id = 'c';
UPDATE tasks SET current_attempt = 1, status = 'running', updated_at = 1795364671001 WHERE task_id = 'c';
INSERT INTO messages (thread_id, from_agent, to_agent, kind, summary, body, payload_json, created_at)
VALUES ('th-c-1', 'worker-a', 'leader', 'question', 'old question', 'old', '{}', 1795364671002);
UPDATE threads SET last_message_id = (SELECT max(message_id) FROM messages WHERE thread_id = 'th-c-1')
WHERE thread_id = 'th-c-1';
INSERT INTO messages (thread_id, from_agent, to_agent, kind, summary, body, payload_json, created_at)
VALUES ('th-c-1', 'worker-a', 'leader', 'question', 'Which "one"?', (SELECT w FROM weird),
        '{ "options" : [ "x", "y \" z", 1.50, -0, 1E+2, true, null ],
  "nested": {"k" :"\u00e9\n"} }', 1795364671003);
INSERT INTO artifacts (message_id, path, kind, metadata_json)
SELECT max(message_id), 'out/log "1".txt', 'log', '{ "lines" : 3 , "note":"é\t" }'
FROM messages WHERE thread_id = 'th-c-1';
INSERT INTO artifacts (message_id, path, kind)
SELECT max(message_id), 'out/diff.patch', '' FROM messages WHERE thread_id = 'th-c-1';
UPDATE threads SET last_message_id = (SELECT max(message_id) FROM messages WHERE thread_id = 'th-c-1'),
    status = 'waiting'
WHERE thread_id = 'th-c-1';
UPDATE tasks SET status = 'blocked', updated_at = 1795364671004 WHERE task_id = 'c';
INSERT INTO messages (thread_id, from_agent, to_agent, kind, summary, created_at)
VALUES ('th-c-1', 'worker-a', 'leader', 'progress', 'still waiting', 1795364671005);
UPDATE threads SET last_message_id = (SELECT max(message_id) FROM messages WHERE thread_id = 'th-c-1')
WHERE thread_id = 'th-c-1';

-- Task e: an attempt but no question; blocked.
INSERT INTO threads (thread_id, run_id, task_id, assigned_to, status, created_at, updated_at)
VALUES ('th-e-1', 'r1', 'e', 'worker-b', 'open', 6, 6);
INSERT INTO attempts (task, run_id, task_id, attempt_no, thread_id, assigned_to, execution_mode,
                      created_at, updated_at)
SELECT id, 'r1', 'e', 1, 'th-e-1', 'worker-b', 'analysis', 6, 6 FROM tasks WHERE task_id = 'e';
UPDATE tasks SET current_attempt = 1, status = 'blocked', updated_at = 7 WHERE task_id = 'e';

SELECT 'checkpoint 2: dispatched, asked, blocked';
SELECT task_id, status_json FROM tasks ORDER BY id;

-- Updates of what rows show: the attempt's workspace and host, the thread's status, an
-- attempt column no row shows, a multi-row task update, and a second attempt of a.
UPDATE attempts SET workspace_status = 'dirty', host = 'host-1' WHERE thread_id = 'th-a-1';
UPDATE threads SET status = 'closed', updated_at = 1795364672000 WHERE thread_id = 'th-a-1';
UPDATE attempts SET outcome = 'succeeded', settled = 1 WHERE thread_id = 'th-c-1';
UPDATE tasks SET updated_at = updated_at + 1000 WHERE run_id = 'r1' AND status <> 'done';
INSERT INTO threads (thread_id, run_id, task_id, assigned_to, status, created_at, updated_at)
VALUES ('th-a-2', 'r1', 'a', 'worker-b', 'open', 1795364673000, 1795364673000);
INSERT INTO attempts (task, run_id, task_id, attempt_no, thread_id, assigned_to, execution_mode,
                      created_at, updated_at)
SELECT id, 'r1', 'a', 2, 'th-a-2', 'worker-b', 'analysis', 1795364673000, 1795364673000
FROM tasks WHERE task_id = 'a';
UPDATE tasks SET current_attempt = 2, updated_at = 1795364673001 WHERE task_id = 'a';
UPDATE tasks SET depends_on_json = '["a","c"]', checks_json = '[]' WHERE task_id = 'b';

SELECT 'checkpoint 3: updated';
SELECT task_id, status_json FROM tasks ORDER BY id;

-- The run's finish is cleared when a task becomes active again (0012), but not for a
-- cancelled run.
UPDATE runs SET finished_event_id = 42 WHERE run_id = 'r1';
UPDATE tasks SET status = 'done' WHERE task_id = 'f';
SELECT 'finished', run_id, finished_event_id FROM runs;
UPDATE tasks SET status = 'ready' WHERE task_id = 'f';
SELECT 'finished', run_id, finished_event_id FROM runs;
INSERT INTO runs (run_id, cancelled, finished_event_id, created_at, updated_at)
VALUES ('r2', 1, 43, 0, 0);
INSERT INTO tasks (run_id, task_id, status, created_at, updated_at) VALUES ('r2', 'a', 'ready', 0, 0);
INSERT INTO runs (run_id, finished_event_id, created_at, updated_at) VALUES ('r3', 44, 0, 0);
INSERT INTO tasks (run_id, task_id, status, created_at, updated_at) VALUES ('r3', 'a', 'done', 0, 0);
SELECT 'finished', run_id, finished_event_id FROM runs ORDER BY run_id;
INSERT INTO tasks (run_id, task_id, status, created_at, updated_at) VALUES ('r3', 'b', 'verifying', 0, 0);
SELECT 'finished', run_id, finished_event_id FROM runs ORDER BY run_id;

SELECT 'checkpoint 4: final';
SELECT task_id, status_json FROM tasks ORDER BY id;
SELECT 'octets', count(*), sum(octet_length(status_json)) FROM tasks;
-- the stored rows are the view's (what Store::integrity_problems checks)
SELECT 'stale', count(*) FROM tasks t JOIN task_status_rows v ON v.id = t.id
WHERE t.status_json IS DISTINCT FROM v.obj;
SELECT id, obj FROM task_status_rows ORDER BY id;
