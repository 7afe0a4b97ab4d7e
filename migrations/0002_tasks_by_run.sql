-- Tasks of a run in creation order: `orch status` renders them through this index so
-- the rows come out in creation order without a sort.
CREATE INDEX tasks_by_run ON tasks (run_id, id);
