//! The `orch` verbs (contract §5), one file each; [`run`] sends a parsed verb to its
//! function. `orch inbox <verb>` goes to [`crate::commands::inbox`]. What dispatch,
//! retry and reassign share is in [`created`].

pub mod answer;
pub mod attempts;
pub mod blocked;
pub mod brief;
pub mod cancel;
pub mod cleanup;
pub mod created;
pub mod dep_add;
pub mod dispatch;
pub mod doctor;
pub mod launch;
pub mod logs;
pub mod mcp;
pub mod next;
pub mod plan_apply;
pub mod ready;
pub mod reassign;
pub mod reconcile;
pub mod retry;
pub mod run_init;
pub mod run_show;
pub mod status;
pub mod supervise;
pub mod task_add;
pub mod up;
pub mod verify_record;
pub mod verify_status;
pub mod wait;
pub mod watch;

use super::Ctx;
use crate::cli::orch::{
    DepCommand, OrchCommand, PlanCommand, RunCommand, TaskCommand, VerifyCommand,
};
use crate::error::Result;
use crate::output::Reply;

/// Runs one orch verb.
pub async fn run(ctx: &Ctx, command: OrchCommand) -> Result<Reply> {
    match command {
        OrchCommand::Run(RunCommand::Init(args)) => run_init::run(ctx, args).await,
        OrchCommand::Run(RunCommand::Show(args)) => run_show::run(ctx, args).await,
        OrchCommand::Task(TaskCommand::Add(args)) => task_add::run(ctx, args).await,
        OrchCommand::Dep(DepCommand::Add(args)) => dep_add::run(ctx, args).await,
        OrchCommand::Plan(PlanCommand::Apply(args)) => plan_apply::run(ctx, args).await,
        OrchCommand::Ready(args) => ready::run(ctx, args).await,
        OrchCommand::Dispatch(args) => dispatch::run(ctx, args).await,
        OrchCommand::Launch(args) => launch::run(ctx, args).await,
        OrchCommand::Attempts(args) => attempts::run(ctx, args).await,
        OrchCommand::Logs(args) => logs::run(ctx, args).await,
        OrchCommand::Mcp(args) => mcp::run(ctx, args).await,
        OrchCommand::Up(args) => up::run(ctx, args).await,
        OrchCommand::Watch(args) => watch::run(ctx, args).await,
        OrchCommand::Supervise(args) => supervise::run(ctx, args).await,
        OrchCommand::Reconcile(args) => reconcile::run(ctx, args).await,
        OrchCommand::Wait(args) => wait::run(ctx, args).await,
        OrchCommand::Next(args) => next::run(ctx, args).await,
        OrchCommand::Blocked(args) => blocked::run(ctx, args).await,
        OrchCommand::Answer(args) => answer::run(ctx, args).await,
        OrchCommand::Retry(args) => retry::run(ctx, args).await,
        OrchCommand::Reassign(args) => reassign::run(ctx, args).await,
        OrchCommand::Cancel(args) => cancel::run(ctx, args).await,
        OrchCommand::Cleanup(args) => cleanup::run(ctx, args).await,
        OrchCommand::Status(args) => status::run(ctx, args).await,
        OrchCommand::Brief(args) => brief::run(ctx, args).await,
        OrchCommand::Doctor(args) => doctor::run(ctx, args).await,
        OrchCommand::Verify(VerifyCommand::Status(args)) => verify_status::run(ctx, args).await,
        OrchCommand::Verify(VerifyCommand::Record(args)) => verify_record::run(ctx, args).await,
        OrchCommand::Inbox(command) => super::inbox::run(ctx, command).await,
    }
}
