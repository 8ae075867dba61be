//! The built-in resource type `builtin:filesystem` (being written).

#![forbid(unsafe_code)]

/// The parameters `builtin:filesystem` knows, with the Filesystem agent's names.
pub const PARAMETERS: [&str; 4] = ["device", "directory", "fstype", "options"];
/// Those a resource must give.
pub const REQUIRED: [&str; 3] = ["device", "directory", "fstype"];

pub use super::ipaddr::ParamProblem;

/// One `builtin:filesystem` resource, as configured (being written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilesystemSpec {}

impl FilesystemSpec {
    pub fn from_params(_params: &[(String, String)]) -> Result<FilesystemSpec, Vec<ParamProblem>> {
        Ok(FilesystemSpec {})
    }
}
