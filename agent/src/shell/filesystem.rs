//! The driver of `builtin:filesystem` (being written: refuses every action meanwhile).

#![forbid(unsafe_code)]

use super::builtin_steps::BuiltinAction;
use crate::core::resources::program::{ProgramExit, Step};
use crate::core::resources::{ActionRequest, ResourceSpec};
use crate::time::Micros;

struct NotYet;

impl BuiltinAction for NotYet {
    fn next(&mut self, _now: Micros, _previous: Option<(ProgramExit, &str)>) -> Step {
        Step::failed(3, "builtin:filesystem is not implemented yet")
    }
}

pub fn begin(_request: &ActionRequest, _resource: &ResourceSpec) -> Box<dyn BuiltinAction> {
    Box::new(NotYet)
}
