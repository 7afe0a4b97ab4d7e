//! Tasks and their dependency graph: adding tasks one by one or a whole plan in one
//! transaction (batched through JSON so 10,000 tasks insert in milliseconds), adding
//! edges with self-edge and cycle refusal, and reading tasks with their edges and checks.

use super::NotFound;
use super::events::{self, NewEvent};
use super::runs::{self, NewRun};
use super::{Db, args, execute, fetch_all, fetch_optional, scalar, sql};
use super::{Store, parse_or_corrupt};
use crate::error::{Error, Result};
use crate::model::{ExecutionMode, Priority, Run, Task, TaskStatus};
use serde_json::{Value, json};
use std::collections::HashSet;

/// A check a task must pass before it is done; `command` when orch runs it itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub name: String,
    pub command: Option<String>,
}

/// `orch task add`, and one task of a plan.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task_id: String,
    pub title: String,
    pub summary: String,
    pub body: String,
    pub default_to: String,
    /// The mode `orch up` dispatches with, if the task sets one.
    pub execution_mode: Option<ExecutionMode>,
    pub acceptance: Option<Value>,
    pub checks: Vec<CheckSpec>,
    pub priority: Priority,
}

/// A plan task with its prerequisites.
#[derive(Debug, Clone)]
pub struct PlanTask {
    pub task: NewTask,
    pub depends_on: Vec<String>,
}

/// `orch plan apply`.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub run: NewRun,
    pub tasks: Vec<PlanTask>,
}

/// What `plan apply` did with each task of the file.
#[derive(Debug, Clone, Default)]
pub struct PlanTaskOutcome {
    pub run: Option<Run>,
    pub run_created: bool,
    pub created: Vec<String>,
    pub unchanged: Vec<String>,
    pub edges_created: usize,
}

/// Inserts tasks (already validated, ids new in the run) with their checks and a
/// `task_added` event each, in the order given.
pub(crate) async fn insert_tasks(
    conn: &mut Db<'_>,
    run_id: &str,
    tasks: &[(&NewTask, TaskStatus)],
    now: i64,
) -> Result<()> {
    let rows: Vec<Value> = tasks
        .iter()
        .map(|(t, status)| {
            json!({
                "task_id": t.task_id,
                "title": t.title,
                "summary": t.summary,
                "body": t.body,
                "default_to": t.default_to,
                "execution_mode": t.execution_mode.map_or("", ExecutionMode::as_str),
                "acceptance_json": t.acceptance.as_ref().map(|a| a.to_string()),
                "priority": t.priority.as_str(),
                "priority_rank": t.priority.rank(),
                "status": status.as_str(),
                "checks_json": serde_json::to_string(&t.checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into()),
            })
        })
        .collect();
    let rows = Value::Array(rows).to_string();
    execute(
        &mut *conn,
        sql!(
            "INSERT INTO tasks (run_id, task_id, title, summary, body, default_to, execution_mode, acceptance_json,
                                priority, priority_rank, status, checks_json, created_at, updated_at)
             SELECT $1, json_extract(j.value, '$.task_id'), json_extract(j.value, '$.title'),
                    json_extract(j.value, '$.summary'), json_extract(j.value, '$.body'),
                    json_extract(j.value, '$.default_to'), json_extract(j.value, '$.execution_mode'),
                    json_extract(j.value, '$.acceptance_json'), json_extract(j.value, '$.priority'),
                    CAST(json_extract(j.value, '$.priority_rank') AS BIGINT), json_extract(j.value, '$.status'),
                    json_extract(j.value, '$.checks_json'), $2, $2
             FROM json_each($3) j ORDER BY j.key"
        ),
        args![run_id, now, &rows],
    )
    .await?;
    let checks: Vec<Value> = tasks
        .iter()
        .flat_map(|(t, _)| {
            t.checks.iter().enumerate().map(|(i, c)| {
                json!({"task_id": t.task_id, "name": c.name, "command": c.command, "position": i})
            })
        })
        .collect();
    if !checks.is_empty() {
        execute(
            &mut *conn,
            sql!(
                sqlite: "INSERT INTO task_checks (task, name, command, position)
                         SELECT t.id, c.value->>'name', c.value->>'command', CAST(c.value->>'position' AS BIGINT)
                         FROM json_each($2) c CROSS JOIN tasks t ON t.run_id = $1 AND t.task_id = c.value->>'task_id'",
                pg: "INSERT INTO task_checks (task, name, command, position)
                     SELECT t.id, c.value->>'name', c.value->>'command', CAST(c.value->>'position' AS BIGINT)
                     FROM jsonb_array_elements($2::jsonb) c(value) JOIN tasks t ON t.run_id = $1 AND t.task_id = c.value->>'task_id'",
            ),
            args![run_id, Value::Array(checks).to_string()],
        )
        .await?;
    }
    // PostgreSQL: the payload is concatenated, as compact as SQLite's json_object
    // (json_build_object would write `{"status" : "ready"}`).
    execute(
        &mut *conn,
        sql!(
            sqlite: "INSERT INTO events (event_type, run_id, task_id, summary, payload_json, created_at)
                     SELECT 'task_added', $1, j.value->>'task_id', j.value->>'title',
                            json_object('status', j.value->>'status'), $2
                     FROM json_each($3) j ORDER BY j.key",
            pg: "INSERT INTO events (event_type, run_id, task_id, summary, payload_json, created_at)
                 SELECT 'task_added', $1, j.value->>'task_id', j.value->>'title',
                        '{\"status\":' || COALESCE((j.value->'status')::text, 'null') || '}', $2
                 FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY j(value, key) ORDER BY j.key",
        ),
        args![run_id, now, &rows],
    )
    .await?;
    Ok(())
}

/// Inserts edges `(dependent, prerequisite)` by task id within a run.
pub(crate) async fn insert_edges(
    conn: &mut Db<'_>,
    run_id: &str,
    edges: &[(&str, &str)],
) -> Result<()> {
    if edges.is_empty() {
        return Ok(());
    }
    let json_edges = serde_json::to_string(edges).unwrap_or_default();
    execute(
        &mut *conn,
        sql!(
            sqlite: "INSERT INTO deps (task, depends_on)
                     SELECT t.id, p.id FROM json_each($2) e
                     CROSS JOIN tasks t ON t.run_id = $1 AND t.task_id = e.value->>0
                     CROSS JOIN tasks p ON p.run_id = $1 AND p.task_id = e.value->>1
                     WHERE true ON CONFLICT DO NOTHING",
            pg: "INSERT INTO deps (task, depends_on)
                 SELECT t.id, p.id FROM jsonb_array_elements($2::jsonb) e(value)
                 JOIN tasks t ON t.run_id = $1 AND t.task_id = e.value->>0
                 JOIN tasks p ON p.run_id = $1 AND p.task_id = e.value->>1
                 WHERE true ON CONFLICT DO NOTHING",
        ),
        args![run_id, &json_edges],
    )
    .await?;
    // Keep each dependent's list of prerequisites with the task. PostgreSQL writes it as
    // compact as SQLite's json_group_array (`["a","b"]`; json_agg would write `["a", "b"]`):
    // the status rows embed it.
    execute(
        &mut *conn,
        sql!(
            sqlite: "UPDATE tasks SET depends_on_json = (
                         SELECT json_group_array(x.task_id) FROM
                             (SELECT p.task_id FROM deps d JOIN tasks p ON p.id = d.depends_on
                              WHERE d.task = tasks.id ORDER BY p.id) x)
                     WHERE run_id = $1 AND task_id IN (SELECT DISTINCT e.value->>0 FROM json_each($2) e)",
            pg: "UPDATE tasks SET depends_on_json = (
                     SELECT '[' || COALESCE(string_agg(to_json(p.task_id)::text, ',' ORDER BY p.id), '') || ']'
                     FROM deps d JOIN tasks p ON p.id = d.depends_on WHERE d.task = tasks.id)
                 WHERE run_id = $1 AND task_id IN (SELECT DISTINCT e.value->>0 FROM jsonb_array_elements($2::jsonb) e(value))",
        ),
        args![run_id, &json_edges],
    )
    .await?;
    Ok(())
}

/// The internal id and status of a task, or `not_found`.
pub(crate) async fn task_key(
    conn: &mut Db<'_>,
    run_id: &str,
    task_id: &str,
) -> Result<(i64, TaskStatus)> {
    let row = fetch_optional(
        conn,
        sql!("SELECT id, status FROM tasks WHERE run_id = $1 AND task_id = $2"),
        args![run_id, task_id],
    )
    .await?
    .ok_or_else(|| NotFound::task(run_id, task_id))?;
    let status: String = row.try_get("status")?;
    Ok((
        row.try_get("id")?,
        parse_or_corrupt("task status", &status, TaskStatus::parse)?,
    ))
}

/// Which tasks of a run to load.
#[derive(Clone, Copy)]
pub(crate) enum TaskSelection<'a> {
    All,
    One(&'a str),
    Status(TaskStatus),
}

/// One task as `[id, priority_rank, {task}]`, the task with its prerequisites and checks
/// (`t` is the task row).
/// Reads of many tasks come back as one JSON row: one hand-off from the database
/// thread instead of one per row, which is what keeps `status` and `ready` fast.
macro_rules! task_json {
    (sqlite) => {
        "json_array(t.id, t.priority_rank, json_object('run_id', t.run_id, 'task_id', t.task_id, 'title', t.title,
            'summary', t.summary, 'body', t.body, 'default_to', t.default_to,
            'execution_mode', t.execution_mode, 'acceptance', json(t.acceptance_json),
            'priority', t.priority, 'status', t.status,
            'current_attempt', t.current_attempt, 'created_at', t.created_at, 'updated_at', t.updated_at,
            'depends_on', (SELECT json_group_array(x.task_id) FROM
                (SELECT p.task_id FROM deps d JOIN tasks p ON p.id = d.depends_on WHERE d.task = t.id ORDER BY p.id) x),
            'required_checks', (SELECT json_group_array(c.name) FROM
                (SELECT name FROM task_checks WHERE task = t.id ORDER BY position) c)))"
    };
    (pg) => {
        "json_build_array(t.id, t.priority_rank, json_build_object('run_id', t.run_id, 'task_id', t.task_id,
            'title', t.title, 'summary', t.summary, 'body', t.body, 'default_to', t.default_to,
            'execution_mode', t.execution_mode, 'acceptance', t.acceptance_json::json,
            'priority', t.priority, 'status', t.status,
            'current_attempt', t.current_attempt, 'created_at', t.created_at, 'updated_at', t.updated_at,
            'depends_on', (SELECT COALESCE(json_agg(p.task_id ORDER BY p.id), '[]')
                FROM deps d JOIN tasks p ON p.id = d.depends_on WHERE d.task = t.id),
            'required_checks', (SELECT COALESCE(json_agg(c.name ORDER BY c.position), '[]')
                FROM task_checks c WHERE c.task = t.id)))"
    };
}

/// A task as [`task_json!`] renders it: `[id, priority_rank, task]`, the keys that
/// order it beside the task (a tuple: read without buffering, unlike a flattened struct).
type TaskRow = (i64, i64, Task);

/// Parses a JSON array produced by `json_group_array` (`json_agg`).
pub(crate) fn parse_json_rows<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("database returned malformed JSON rows: {e}")))
}

/// Loads tasks with their prerequisites and checks, in ready order (priority, then
/// creation) for a status selection and creation order otherwise.
pub(crate) async fn load_tasks(
    conn: &mut Db<'_>,
    run_id: &str,
    selection: TaskSelection<'_>,
) -> Result<Vec<(i64, Task)>> {
    macro_rules! tasks_where {
        ($condition:literal) => {
            sql!(
                sqlite: concat!(
                    "SELECT json_group_array(",
                    task_json!(sqlite),
                    ") FROM tasks t WHERE t.run_id = $1",
                    $condition
                ),
                pg: concat!(
                    "SELECT COALESCE(json_agg(",
                    task_json!(pg),
                    "), '[]')::text FROM tasks t WHERE t.run_id = $1",
                    $condition
                ),
            )
        };
    }
    let (sql, args) = match selection {
        TaskSelection::All => (tasks_where!(""), args![run_id]),
        TaskSelection::One(task_id) => {
            (tasks_where!(" AND t.task_id = $2"), args![run_id, task_id])
        }
        TaskSelection::Status(status) => (
            tasks_where!(" AND t.status = $2"),
            args![run_id, status.as_str()],
        ),
    };
    // The aggregate always returns its one row.
    let text: String = scalar(&mut *conn, sql, args).await?.unwrap_or_default();
    let mut rows: Vec<TaskRow> = serde_json::from_str(&text)
        .map_err(|e| Error::internal(format!("database holds a task row orch cannot read: {e}")))?;
    match selection {
        TaskSelection::Status(_) => rows.sort_by_key(|(id, rank, _)| (-rank, *id)),
        _ => rows.sort_by_key(|(id, _, _)| *id),
    }
    Ok(rows.into_iter().map(|(id, _, task)| (id, task)).collect())
}

pub(crate) async fn load_task(
    conn: &mut Db<'_>,
    run_id: &str,
    task_id: &str,
) -> Result<(i64, Task)> {
    load_tasks(conn, run_id, TaskSelection::One(task_id))
        .await?
        .pop()
        .ok_or_else(|| NotFound::task(run_id, task_id).into())
}

/// Sets a task's status, appending the status's event.
pub(crate) async fn set_task_status(
    conn: &mut Db<'_>,
    key: i64,
    run_id: &str,
    task_id: &str,
    status: TaskStatus,
    event: Option<NewEvent>,
    now: i64,
) -> Result<()> {
    execute(
        &mut *conn,
        sql!("UPDATE tasks SET status = $1, updated_at = $2 WHERE id = $3"),
        args![status.as_str(), now, key],
    )
    .await?;
    if let Some(event_type) = status.event_type() {
        let event = event.unwrap_or_else(|| NewEvent::new(event_type));
        let event = NewEvent {
            event_type,
            ..event
        }
        .on_task(run_id, task_id);
        events::insert(conn, event, now).await?;
    }
    Ok(())
}

/// After `task` reached done: each dependent whose prerequisites are all done becomes ready.
pub(crate) async fn release_dependents(
    conn: &mut Db<'_>,
    run_id: &str,
    task: i64,
    now: i64,
) -> Result<Vec<String>> {
    let rows = fetch_all(
        &mut *conn,
        sql!(
            "SELECT t.id, t.task_id FROM deps d JOIN tasks t ON t.id = d.task
             WHERE d.depends_on = $1 AND t.status = 'planned'
               AND NOT EXISTS (SELECT 1 FROM deps d2 JOIN tasks p ON p.id = d2.depends_on
                               WHERE d2.task = t.id AND p.status != 'done')
             ORDER BY t.id"
        ),
        args![task],
    )
    .await?;
    let mut released = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let task_id: String = row.try_get("task_id")?;
        set_task_status(conn, id, run_id, &task_id, TaskStatus::Ready, None, now).await?;
        released.push(task_id);
    }
    Ok(released)
}

pub(crate) fn validate_new_task(task: &NewTask) -> Result<()> {
    crate::ids::validate_id("task id", &task.task_id)?;
    let mut seen = HashSet::new();
    for check in &task.checks {
        if check.name.trim().is_empty() {
            return Err(Error::invalid_input(format!(
                "task {:?} has a check with an empty name",
                task.task_id
            )));
        }
        if !seen.insert(check.name.as_str()) {
            return Err(Error::invalid_input(format!(
                "task {:?} names check {:?} twice",
                task.task_id, check.name
            )));
        }
    }
    Ok(())
}

/// The fields in which a stored task's definition differs from `new` (its
/// dependencies aside), in a fixed order; none when `new` repeats it.
pub(crate) fn definition_differences(old: &Task, new: &NewTask) -> Vec<&'static str> {
    let new_checks: Vec<&str> = new.checks.iter().map(|c| c.name.as_str()).collect();
    let acceptance = new.acceptance.clone().unwrap_or(Value::Null);
    [
        (old.title != new.title, "title"),
        (old.summary != new.summary, "summary"),
        (old.body != new.body, "body"),
        (old.default_to != new.default_to, "worker"),
        (old.execution_mode != new.execution_mode, "execution mode"),
        (old.priority != new.priority, "priority"),
        (old.acceptance != acceptance, "acceptance"),
        (old.required_checks != new_checks, "set of checks"),
    ]
    .into_iter()
    .filter_map(|(differs, field)| differs.then_some(field))
    .collect()
}

/// "title", "title and body", "title, body and priority".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl Store {
    /// `orch task add`: `ready` (a new task has no prerequisites yet); true when it was
    /// added. A task already in the run with the same definition is left as it is (a
    /// repeated `task add` is a no-op, false); with another definition, `invalid_state`
    /// naming what differs.
    pub async fn add_task(&self, run_id: &str, task: &NewTask) -> Result<(Task, bool)> {
        validate_new_task(task)?;
        self.write(async |tx, now| {
            runs::require_run(tx, run_id).await?;
            if task_key(tx, run_id, &task.task_id).await.is_ok() {
                let (_, old) = load_task(tx, run_id, &task.task_id).await?;
                let differences = definition_differences(&old, task);
                if differences.is_empty() {
                    return Ok((old, false));
                }
                return Err(Error::invalid_state(format!(
                    "task {:?} already exists in run {run_id:?} with a different {}; give the new task another id",
                    task.task_id,
                    and_list(&differences)
                )));
            }
            insert_tasks(tx, run_id, &[(task, TaskStatus::Ready)], now).await?;
            let (_, added) = load_task(tx, run_id, &task.task_id).await?;
            Ok((added, true))
        })
        .await
    }

    /// `orch dep add`: `task` waits for `depends_on`. Self-edges and cycles are refused
    /// and change nothing; an existing edge is accepted as is.
    pub async fn add_dep(
        &self,
        run_id: &str,
        task_id: &str,
        depends_on: &str,
    ) -> Result<(Task, bool)> {
        self.write(async |tx, now| {
            runs::require_run(tx, run_id).await?;
            let (task, status) = task_key(tx, run_id, task_id).await?;
            let (prereq, prereq_status) = task_key(tx, run_id, depends_on).await?;
            if task == prereq {
                return Err(Error::invalid_input(format!(
                    "task {task_id:?} cannot depend on itself"
                )));
            }
            let exists: Option<i64> = scalar(
                tx,
                sql!("SELECT 1 FROM deps WHERE task = $1 AND depends_on = $2"),
                args![task, prereq],
            )
            .await?;
            if exists.is_some() {
                let (_, loaded) = load_task(tx, run_id, task_id).await?;
                return Ok((loaded, false));
            }
            // A cycle exists when the prerequisite already (transitively) depends on the task.
            let cycle: Option<i64> = scalar(
                tx,
                sql!("WITH RECURSIVE reach(id) AS (
                          SELECT CAST($1 AS BIGINT) UNION SELECT d.depends_on FROM deps d JOIN reach r ON d.task = r.id)
                      SELECT 1 FROM reach WHERE id = $2 LIMIT 1"),
                args![prereq, task],
            )
            .await?;
            if cycle.is_some() {
                return Err(Error::invalid_input(format!(
                    "task {task_id:?} depending on {depends_on:?} would close a cycle ({depends_on:?} already depends on {task_id:?})"
                )));
            }
            if !matches!(status, TaskStatus::Planned | TaskStatus::Ready) {
                return Err(Error::invalid_state(format!(
                    "task {task_id:?} is {status}; dependencies can only be added before it is dispatched"
                )));
            }
            insert_edges(tx, run_id, &[(task_id, depends_on)]).await?;
            if status == TaskStatus::Ready && prereq_status != TaskStatus::Done {
                execute(
                    tx,
                    sql!("UPDATE tasks SET status = 'planned', updated_at = $1 WHERE id = $2"),
                    args![now, task],
                )
                .await?;
            }
            let summary = format!("{task_id} depends on {depends_on}");
            let event = ("dep_added", summary.as_str(), json!({"depends_on": depends_on}));
            events::insert_on_task(tx, (run_id, task_id), event, now)
            .await?;
            let (_, loaded) = load_task(tx, run_id, task_id).await?;
            Ok((loaded, true))
        })
        .await
    }

    /// One task with its prerequisites and checks.
    pub async fn task(&self, run_id: &str, task_id: &str) -> Result<Task> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        Ok(load_task(conn, run_id, task_id).await?.1)
    }

    /// Every task of a run, in creation order.
    pub async fn tasks(&self, run_id: &str) -> Result<Vec<Task>> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        Ok(load_tasks(conn, run_id, TaskSelection::All)
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    /// `orch ready`: dispatchable tasks, by priority then creation order.
    pub async fn ready(&self, run_id: &str) -> Result<Vec<Task>> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        Ok(
            load_tasks(conn, run_id, TaskSelection::Status(TaskStatus::Ready))
                .await?
                .into_iter()
                .map(|(_, t)| t)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::store::FinishKind;
    use crate::store::testing::*;

    async fn ready_ids(store: &Store) -> Vec<String> {
        ids(store.ready("r").await.unwrap())
    }

    #[tokio::test]
    async fn dependencies_gate_ready_until_every_prerequisite_is_done() {
        let store = store_with(&["a", "b", "c"]).await;
        store.add_dep("r", "c", "a").await.unwrap();
        let (c, added) = store.add_dep("r", "c", "b").await.unwrap();
        assert!(added);
        assert_eq!(c.status, TaskStatus::Planned);
        assert_eq!(c.depends_on, ["a", "b"]);
        assert_eq!(ready_ids(&store).await, ["a", "b"]);
        let a = dispatch(&store, "a").await;
        work(&store, &a, FinishKind::Done).await;
        assert_eq!(ready_ids(&store).await, ["b"]);
        let b = dispatch(&store, "b").await;
        work(&store, &b, FinishKind::Failed).await;
        assert_eq!(status(&store, "c").await, TaskStatus::Planned);
        assert!(ready_ids(&store).await.is_empty());
    }

    #[tokio::test]
    async fn the_last_prerequisite_done_releases_the_dependent() {
        let store = store_with(&["a", "b"]).await;
        store.add_dep("r", "b", "a").await.unwrap();
        let a = dispatch(&store, "a").await;
        work(&store, &a, FinishKind::Done).await;
        assert_eq!(ready_ids(&store).await, ["b"]);
        let types = event_types(&store).await;
        assert_eq!(types.last().map(String::as_str), Some("task_ready"));
    }

    #[tokio::test]
    async fn self_edges_and_cycles_are_refused_and_change_nothing() {
        let store = store_with(&["a", "b", "c"]).await;
        store.add_dep("r", "b", "a").await.unwrap();
        store.add_dep("r", "c", "b").await.unwrap();
        let before = store.max_event_id().await.unwrap();
        for (task, on) in [("a", "a"), ("a", "c"), ("a", "b")] {
            let err = store.add_dep("r", task, on).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput, "{task} -> {on}");
        }
        let a = store.task("r", "a").await.unwrap();
        assert!(a.depends_on.is_empty());
        assert_eq!(a.status, TaskStatus::Ready);
        assert_eq!(store.max_event_id().await.unwrap(), before);
        // An edge that exists already is accepted as is.
        let (_, added) = store.add_dep("r", "b", "a").await.unwrap();
        assert!(!added);
    }

    #[tokio::test]
    async fn unknown_tasks_and_duplicates_are_refused() {
        let store = store_with(&["a"]).await;
        let err = store.task("r", "x").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        assert_eq!(err.message, r#"task "x" not found in run "r""#);
        let err = store.add_task("x", &task("b")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
    }

    #[tokio::test]
    async fn a_repeated_task_add_is_a_no_op_and_a_different_one_names_what_differs() {
        let store = store_with(&["a"]).await;
        let events = store.max_event_id().await.unwrap();
        let (same, created) = store.add_task("r", &task("a")).await.unwrap();
        assert!(!created);
        assert_eq!(same.title, "title of a");
        assert_eq!(store.max_event_id().await.unwrap(), events);
        let mut changed = task("a");
        changed.title = "another".into();
        changed.body = "other".into();
        changed.priority = Priority::High;
        let err = store.add_task("r", &changed).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        assert_eq!(
            err.message,
            r#"task "a" already exists in run "r" with a different title, body and priority; give the new task another id"#
        );
        assert_eq!(store.task("r", "a").await.unwrap().title, "title of a");
    }

    #[tokio::test]
    async fn a_task_reads_its_mode_none_when_unset_and_refuses_an_unknown_one() {
        let store = crate::store::test_store(
            &[("none", "ready"), ("code", "ready"), ("bad", "ready")],
            "UPDATE tasks SET execution_mode = 'code' WHERE task_id = 'code';
             UPDATE tasks SET execution_mode = 'fast' WHERE task_id = 'bad';",
        )
        .await;
        assert_eq!(store.task("r", "none").await.unwrap().execution_mode, None);
        assert_eq!(
            store.task("r", "code").await.unwrap().execution_mode,
            Some(crate::model::ExecutionMode::Code)
        );
        let err = store.task("r", "bad").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        assert!(err.message.contains("unknown execution mode"), "{err:?}");
    }
}
