-- Each task's prerequisites and checks as JSON arrays of names, kept with the task, so
-- `orch status` reads them from the row instead of two subqueries per task.
ALTER TABLE tasks ADD COLUMN depends_on_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN checks_json TEXT NOT NULL DEFAULT '[]';
UPDATE tasks SET
    depends_on_json = (SELECT json_group_array(p.task_id) FROM
        (SELECT p.task_id FROM deps d JOIN tasks p ON p.id = d.depends_on WHERE d.task = tasks.id ORDER BY p.id) p),
    checks_json = (SELECT json_group_array(c.name) FROM
        (SELECT name FROM task_checks WHERE task = tasks.id ORDER BY position) c);
