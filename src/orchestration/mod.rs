//! What happens around attempts: starting an attempt's supervisor for the worker it is
//! assigned to ([`launch`]).

pub mod launch;
