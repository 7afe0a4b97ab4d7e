-- The control plane: runs, tasks, dependencies, attempts, inbox threads, messages,
-- artifacts, leases, read cursors, verification records and the one events table.
-- Timestamps are INTEGER Unix milliseconds. Append-only: never edit this file once
-- released; add a new migration instead.

CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY NOT NULL,
    goal         TEXT NOT NULL DEFAULT '',
    summary      TEXT NOT NULL DEFAULT '',
    cancelled    INTEGER NOT NULL DEFAULT 0,
    -- worker profiles and named checks that came with a plan file (JSON object)
    config_json  TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES runs(run_id),
    task_id          TEXT NOT NULL,
    title            TEXT NOT NULL DEFAULT '',
    summary          TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    default_to       TEXT NOT NULL DEFAULT '',
    execution_mode   TEXT NOT NULL DEFAULT '',
    acceptance_json  TEXT,
    priority         TEXT NOT NULL DEFAULT 'normal',
    priority_rank    INTEGER NOT NULL DEFAULT 1,
    status           TEXT NOT NULL,
    current_attempt  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (run_id, task_id)
) STRICT;

CREATE INDEX tasks_by_status ON tasks (run_id, status, priority_rank DESC, id);

CREATE TABLE task_checks (
    task     INTEGER NOT NULL REFERENCES tasks(id),
    name     TEXT NOT NULL,
    -- the command orch runs for this check, when the acceptance names one
    command  TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (task, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE deps (
    task        INTEGER NOT NULL REFERENCES tasks(id),
    depends_on  INTEGER NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (task, depends_on)
) STRICT, WITHOUT ROWID;

CREATE INDEX deps_by_prerequisite ON deps (depends_on, task);

CREATE TABLE threads (
    thread_id        TEXT PRIMARY KEY NOT NULL,
    run_id           TEXT,
    task_id          TEXT,
    subject          TEXT NOT NULL DEFAULT '',
    created_by       TEXT NOT NULL DEFAULT '',
    assigned_to      TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    priority         TEXT NOT NULL DEFAULT 'normal',
    last_message_id  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX threads_by_assignee ON threads (assigned_to, updated_at DESC);
CREATE INDEX threads_by_task ON threads (run_id, task_id);

CREATE TABLE messages (
    message_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id     TEXT NOT NULL REFERENCES threads(thread_id),
    from_agent    TEXT NOT NULL DEFAULT '',
    to_agent      TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL,
    summary       TEXT NOT NULL DEFAULT '',
    body          TEXT NOT NULL DEFAULT '',
    payload_json  TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX messages_by_thread ON messages (thread_id, message_id);
CREATE INDEX messages_by_kind ON messages (thread_id, kind, message_id);

CREATE TABLE artifacts (
    id             INTEGER PRIMARY KEY,
    message_id     INTEGER NOT NULL REFERENCES messages(message_id),
    path           TEXT NOT NULL,
    kind           TEXT NOT NULL DEFAULT '',
    metadata_json  TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX artifacts_by_message ON artifacts (message_id);

CREATE TABLE leases (
    id           INTEGER PRIMARY KEY,
    thread_id    TEXT NOT NULL REFERENCES threads(thread_id),
    agent        TEXT NOT NULL,
    acquired_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    released_at  INTEGER
) STRICT;

CREATE INDEX leases_open ON leases (thread_id, released_at);

CREATE TABLE read_cursors (
    agent            TEXT NOT NULL,
    thread_id        TEXT NOT NULL REFERENCES threads(thread_id),
    last_message_id  INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (agent, thread_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE attempts (
    id                INTEGER PRIMARY KEY,
    task              INTEGER NOT NULL REFERENCES tasks(id),
    run_id            TEXT NOT NULL,
    task_id           TEXT NOT NULL,
    attempt_no        INTEGER NOT NULL,
    thread_id         TEXT NOT NULL REFERENCES threads(thread_id),
    assigned_to       TEXT NOT NULL,
    execution_mode    TEXT NOT NULL,
    repo_path         TEXT NOT NULL DEFAULT '',
    base_ref          TEXT NOT NULL DEFAULT '',
    base_commit       TEXT NOT NULL DEFAULT '',
    branch_name       TEXT NOT NULL DEFAULT '',
    worktree_path     TEXT NOT NULL DEFAULT '',
    workspace_status  TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (task, attempt_no)
) STRICT;

CREATE INDEX attempts_by_thread ON attempts (thread_id);

CREATE TABLE verifications (
    id          INTEGER PRIMARY KEY,
    task        INTEGER NOT NULL REFERENCES tasks(id),
    attempt_no  INTEGER NOT NULL,
    check_name  TEXT NOT NULL,
    status      TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX verifications_by_task ON verifications (task, attempt_no, check_name, id);

CREATE TABLE events (
    event_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type     TEXT NOT NULL,
    run_id         TEXT,
    task_id        TEXT,
    thread_id      TEXT,
    message_id     INTEGER,
    -- the thread's status and assignee right after the event (for watch filters)
    thread_status  TEXT,
    assigned_to    TEXT,
    summary        TEXT NOT NULL DEFAULT '',
    payload_json   TEXT NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX events_by_run ON events (run_id, event_id);
CREATE INDEX events_by_thread ON events (thread_id, event_id);
CREATE INDEX events_by_message ON events (message_id);
