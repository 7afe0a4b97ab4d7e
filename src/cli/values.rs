//! The vocabularies of enum-valued flags as `clap::ValueEnum`: the model's own status
//! vocabularies (spelled as the model spells them), and the narrower choices some verbs
//! take. A value outside them is a usage error (`invalid_input`) naming the choices.

use crate::model::{ExecutionMode, MessageKind, Priority, ThreadStatus};
use clap::ValueEnum;
use clap::builder::PossibleValue;

/// `ValueEnum` for enums of [`crate::model`]: their values are `ALL`, spelled `as_str()`.
macro_rules! model_value_enum {
    ($($name:ident),+ $(,)?) => {$(
        impl ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                $name::ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.as_str()))
            }
        }
    )+};
}

model_value_enum!(ExecutionMode, MessageKind, Priority, ThreadStatus);

/// `inbox update --status`: what the worker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum UpdateStatus {
    InProgress,
    Blocked,
}

impl From<UpdateStatus> for ThreadStatus {
    fn from(status: UpdateStatus) -> ThreadStatus {
        match status {
            UpdateStatus::InProgress => ThreadStatus::InProgress,
            UpdateStatus::Blocked => ThreadStatus::Blocked,
        }
    }
}

/// `inbox reply --kind`: what a reply on an open thread may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplyKind {
    Answer,
    Control,
}

impl From<ReplyKind> for MessageKind {
    fn from(kind: ReplyKind) -> MessageKind {
        match kind {
            ReplyKind::Answer => MessageKind::Answer,
            ReplyKind::Control => MessageKind::Control,
        }
    }
}

/// `verify record --status`: one check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckResult {
    Passed,
    Failed,
}
