//! The Copilot workspace model of copilot-lite.
//!
//! Owns: finding the workspace (the parent of the nearest `copilot/` folder) and its
//! application name ([`Workspace`]); reading and validating service manifests
//! ([`Service`]); discovering, merging and validating a service's addons templates and
//! `addons.parameters.yml` exactly as Copilot does, with its bugs fixed ([`Addons`], SPEC A1,
//! A2, B §3.1–§3.3), keeping each merged entry's original text and a map from merged lines
//! back to the original files ([`Addons::locate`]).
//!
//! Must not know about: stacks and their conventions (names, parameters, tags: the
//! `copilot-model` crate), AWS (S3, CloudFormation, credentials), packaging of local artifacts,
//! command-line flags, or the terminal. It reads files, and returns text and errors.

mod addons;
mod error;
mod merge;
mod text;
mod workspace;

pub use addons::{
    AddonParameter, Addons, AddonsKind, ENV_RESERVED_PARAMETERS, EXCLUDED_ENVIRONMENTS,
    RESERVED_PARAMETERS,
};
pub use error::{AddonsError, Conflict, WorkspaceError};
pub use workspace::{Service, ServiceType, Workspace};
