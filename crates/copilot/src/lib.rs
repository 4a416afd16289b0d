//! The Copilot model of copilot-lite: Copilot's conventions and the ownership rules.
//!
//! Owns: every convention shared with Copilot or written by copilot-lite on AWS, in one place:
//! Copilot's rule for application, environment and service names ([`validate_name`]); stack
//! names, parameter names, logical IDs, tags and copilot-lite's mark ([`names`]); the
//! S3 key layout ([`KeyLayout`]); the artifact bucket (Copilot's stack set and output, and
//! copilot-lite's own bucket stack: [`bucket_name`], [`bucket_template`]); copilot-lite's own
//! workload and environment stacks ([`workload_template`], [`workload_params_json`],
//! [`environment_template`], [`environment_params_json`]); and the ownership rules:
//! whose a deployed stack is ([`classify`]), the only edit made to a Copilot stack
//! ([`CopilotStack::with_addons`]) and the resources its change sets may touch
//! ([`CopilotStack::allowed_changes`]); the same for environment stacks ([`classify_env`],
//! [`CopilotEnvStack::with_addons`]).
//!
//! Must not know about: AWS calls (the caller reads the stack and passes it in: everything
//! here is pure), packaging of local artifacts, command-line flags, or the terminal.

mod bucket;
mod environment;
pub mod names;
mod ownership;
mod workload;

pub use bucket::{
    BUCKET_OUTPUT, COPILOT_BUCKET_OUTPUT, bucket_name, bucket_stack_tags, bucket_template,
    copilot_stack_set_name, infrastructure_stack_name,
};
pub use environment::{CopilotEnvStack, EnvOwnership, classify_env};
pub use names::{
    EnvTarget, KeyLayout, NameError, NameKind, ReservedTag, Target, check_extra_tags,
    validate_name, validate_service_name,
};
pub use ownership::{CopilotStack, DeployedStack, Ownership, Refusal, classify};
pub use workload::{
    ENV_DESCRIPTION, environment_params_json, environment_template, workload_params_json,
    workload_template,
};
