//! `orch plan apply`: a whole plan in one transaction. Tasks already in the run with
//! the same definition are left alone, so re-applying a plan is a no-op; anything wrong
//! anywhere in the file (bad id, unknown dependency, cycle, changed task) rolls it all back.

use super::Store;
use super::runs;
use super::tasks::{
    NewTask, PlanInput, PlanTask, PlanTaskOutcome, TaskSelection, definition_differences,
    insert_edges, insert_tasks, load_tasks, validate_new_task,
};
use super::{Db, args, execute, sql};
use crate::error::{Error, Result};
use crate::model::{Task, TaskStatus};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The tasks of a run as they are before the plan: by task id, with their key.
type Existing = HashMap<String, (i64, Task)>;

impl Store {
    /// `orch plan apply`: creates or extends a run from a plan, all or nothing. A task
    /// already in the run with the same definition is left as is; one with a different
    /// definition is refused.
    pub async fn apply_plan(&self, plan: &PlanInput) -> Result<PlanTaskOutcome> {
        let in_plan = check_ids(plan)?;
        let run_id = plan.run.run_id.as_str();
        self.write(async |tx, now| {
            let mut outcome = PlanTaskOutcome {
                run_created: upsert_run(tx, plan, now).await?,
                ..PlanTaskOutcome::default()
            };
            let existing: Existing = load_tasks(tx, run_id, TaskSelection::All)
                .await?
                .into_iter()
                .map(|(id, t)| (t.task_id.clone(), (id, t)))
                .collect();
            let new_tasks = new_tasks(plan, &existing, &mut outcome.unchanged)?;
            check_new_edges(run_id, &new_tasks, &in_plan, &existing)?;
            let new_ids: HashSet<&str> =
                new_tasks.iter().map(|p| p.task.task_id.as_str()).collect();
            if let Some(cycle) = find_cycle(&new_tasks, &new_ids) {
                return Err(Error::invalid_input(format!(
                    "the plan's dependencies form a cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            let rows: Vec<(&NewTask, TaskStatus)> = new_tasks
                .iter()
                .map(|pt| (&pt.task, first_status(pt, &new_ids, &existing)))
                .collect();
            insert_tasks(tx, run_id, &rows, now).await?;
            let edges: Vec<(&str, &str)> = new_tasks
                .iter()
                .flat_map(|pt| {
                    pt.depends_on
                        .iter()
                        .map(|d| (pt.task.task_id.as_str(), d.as_str()))
                })
                .collect();
            insert_edges(tx, run_id, &edges).await?;
            outcome.edges_created = edges.len();
            outcome.created = new_tasks.iter().map(|p| p.task.task_id.clone()).collect();
            outcome.run = Some(runs::load_run(tx, run_id).await?);
            Ok(outcome)
        })
        .await
    }
}

/// Checks the run id and every task of the plan before the database is touched: the
/// plan's task ids with their positions.
fn check_ids(plan: &PlanInput) -> Result<HashMap<&str, usize>> {
    crate::ids::validate_id("run id", &plan.run.run_id)?;
    let mut in_plan: HashMap<&str, usize> = HashMap::new();
    for (i, pt) in plan.tasks.iter().enumerate() {
        validate_new_task(&pt.task)?;
        if in_plan.insert(pt.task.task_id.as_str(), i).is_some() {
            return Err(Error::invalid_input(format!(
                "plan names task {:?} twice",
                pt.task.task_id
            )));
        }
    }
    Ok(in_plan)
}

/// Creates the run, or updates its goal, summary and config from the plan; true when
/// it was created.
async fn upsert_run(conn: &mut Db<'_>, plan: &PlanInput, now: i64) -> Result<bool> {
    let run_id = plan.run.run_id.as_str();
    if !runs::run_exists(conn, run_id).await? {
        runs::insert_run(conn, &plan.run, now).await?;
        return Ok(true);
    }
    execute(
        conn,
        sql!(
            "UPDATE runs SET goal = CASE WHEN $2 = '' THEN goal ELSE $2 END,
                             summary = CASE WHEN $3 = '' THEN summary ELSE $3 END,
                             config_json = COALESCE($4, config_json), updated_at = $5
             WHERE run_id = $1"
        ),
        args![
            run_id,
            &plan.run.goal,
            &plan.run.summary,
            plan.run.config.as_ref().map(|c| c.to_string()),
            now
        ],
    )
    .await?;
    Ok(false)
}

/// The plan's tasks not yet in the run; those that are, with the same definition, go
/// to `unchanged`; one with another definition is refused.
fn new_tasks<'p>(
    plan: &'p PlanInput,
    existing: &Existing,
    unchanged: &mut Vec<String>,
) -> Result<Vec<&'p PlanTask>> {
    let mut new_tasks = Vec::new();
    for pt in &plan.tasks {
        let Some((_, old)) = existing.get(&pt.task.task_id) else {
            new_tasks.push(pt);
            continue;
        };
        if let Some(field) = differs(old, pt) {
            return Err(Error::invalid_state(format!(
                "task {:?} already exists in run {:?} with a different {field}; give the new task another id",
                pt.task.task_id, plan.run.run_id
            )));
        }
        unchanged.push(pt.task.task_id.clone());
    }
    Ok(new_tasks)
}

/// Every prerequisite of a new task is another task, in the plan or in the run. Edges
/// come only from new tasks, so any cycle runs through new tasks alone.
fn check_new_edges(
    run_id: &str,
    new_tasks: &[&PlanTask],
    in_plan: &HashMap<&str, usize>,
    existing: &Existing,
) -> Result<()> {
    for pt in new_tasks {
        for dep in &pt.depends_on {
            if dep == &pt.task.task_id {
                return Err(Error::invalid_input(format!(
                    "task {dep:?} cannot depend on itself"
                )));
            }
            if !in_plan.contains_key(dep.as_str()) && !existing.contains_key(dep) {
                return Err(Error::invalid_input(format!(
                    "task {:?} depends on {dep:?}, which is neither in the plan nor in run {run_id:?}",
                    pt.task.task_id
                )));
            }
        }
    }
    Ok(())
}

/// A new task waits (`planned`) on a new prerequisite or on one in the run not yet
/// done; otherwise it is `ready`.
fn first_status(pt: &PlanTask, new_ids: &HashSet<&str>, existing: &Existing) -> TaskStatus {
    let waiting = pt.depends_on.iter().any(|d| {
        new_ids.contains(d.as_str())
            || existing
                .get(d)
                .is_some_and(|(_, t)| t.status != TaskStatus::Done)
    });
    if waiting {
        TaskStatus::Planned
    } else {
        TaskStatus::Ready
    }
}

/// Names the first field in which a stored task differs from a plan task.
fn differs(old: &Task, new: &PlanTask) -> Option<&'static str> {
    let old_deps: BTreeSet<&str> = old.depends_on.iter().map(String::as_str).collect();
    let new_deps: BTreeSet<&str> = new.depends_on.iter().map(String::as_str).collect();
    let first = definition_differences(old, &new.task).first().copied();
    first.or((old_deps != new_deps).then_some("set of dependencies"))
}

/// A cycle among the new tasks, as a path of task ids, if there is one.
fn find_cycle(tasks: &[&PlanTask], ids: &HashSet<&str>) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, p)| (p.task.task_id.as_str(), i))
        .collect();
    // Iterative DFS with colours: 0 unvisited, 1 on the stack, 2 finished.
    let mut colour = vec![0u8; tasks.len()];
    let mut parent = vec![usize::MAX; tasks.len()];
    for start in 0..tasks.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = &tasks[node].depends_on;
            if *next < deps.len() {
                let dep = deps[*next].as_str();
                *next += 1;
                if !ids.contains(dep) {
                    continue;
                }
                let d = index[dep];
                match colour[d] {
                    0 => {
                        colour[d] = 1;
                        parent[d] = node;
                        stack.push((d, 0));
                    }
                    1 => {
                        let mut path = vec![tasks[d].task.task_id.clone()];
                        let mut at = node;
                        while at != d {
                            path.push(tasks[at].task.task_id.clone());
                            at = parent[at];
                        }
                        path.push(tasks[d].task.task_id.clone());
                        path.reverse();
                        return Some(path);
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;
    use crate::store::testing::{ids, task};
    use crate::store::{NewRun, PlanInput, PlanTask, Store};

    fn plan(tasks: &[(&str, &[&str])]) -> PlanInput {
        PlanInput {
            run: NewRun {
                run_id: "r".into(),
                goal: "plan".into(),
                ..NewRun::default()
            },
            tasks: tasks
                .iter()
                .map(|(id, deps)| PlanTask {
                    task: task(id),
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_plan_applies_whole_and_again_as_a_no_op() {
        let store = Store::open_in_memory().await.unwrap();
        let input = plan(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])]);
        let first = store.apply_plan(&input).await.unwrap();
        assert!(first.run_created);
        assert_eq!(first.created, ["a", "b", "c"]);
        assert_eq!(first.edges_created, 3);
        let events = store.max_event_id().await.unwrap();
        let again = store.apply_plan(&input).await.unwrap();
        assert!(again.created.is_empty());
        assert_eq!(again.unchanged, ["a", "b", "c"]);
        assert_eq!(ids(store.ready("r").await.unwrap()), ["a"]);
        assert_eq!(store.max_event_id().await.unwrap(), events);
    }

    #[tokio::test]
    async fn a_bad_plan_changes_nothing() {
        let store = Store::open_in_memory().await.unwrap();
        let cycle = plan(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"])]);
        let err = store.apply_plan(&cycle).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert_eq!(
            err.message,
            "the plan's dependencies form a cycle: a -> c -> b -> a"
        );
        assert_eq!(store.run("r").await.unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(store.max_event_id().await.unwrap(), 0);

        store.apply_plan(&plan(&[("a", &[])])).await.unwrap();
        let before = store.max_event_id().await.unwrap();
        // A good new task beside one that names an unknown prerequisite: neither lands.
        let bad = plan(&[("a", &[]), ("b", &["a"]), ("c", &["x"])]);
        let err = store.apply_plan(&bad).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert_eq!(ids(store.tasks("r").await.unwrap()), ["a"]);
        assert_eq!(store.max_event_id().await.unwrap(), before);
        // A changed definition of a task already in the run is refused too.
        let mut changed = plan(&[("a", &[]), ("d", &[])]);
        changed.tasks[0].task.title = "another title".into();
        let err = store.apply_plan(&changed).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        assert!(store.task("r", "d").await.is_err());
    }
}
