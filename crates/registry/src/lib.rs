//! The packageable-property registry.
//!
//! Owns: the one data table of which resource properties point at local artifacts and how each
//! is rewritten (SPEC A3, B §1), and finding those property nodes in a parsed template
//! (resources, `Fn::ForEach::` entries, `AWS::Include` transforms in long and `!Transform`
//! form, ServerlessRepo metadata), plus the local-path rule (SPEC A4). Must not know about the
//! file system, zips, S3 or the terminal.
//!
//! API CONTRACT (implementation in progress).

use cfn_yaml::{Node, Template};

/// How a rewritten property is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `s3://bucket/key`.
    Uri,
    /// A mapping `{<bucket>: bucket, <key>: key}`.
    Map { bucket: &'static str, key: &'static str },
    /// An https URL to a CloudFormation template (nested stacks).
    Https,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Resource type, e.g. `AWS::Lambda::Function`.
    pub resource_type: &'static str,
    /// Dotted property path under `Properties`; `*` matches any key (e.g.
    /// `Resolvers.*.*.CodeUri`).
    pub property: &'static str,
    pub form: Form,
    /// A single file must be zipped (unless it already is a zip archive).
    pub force_zip: bool,
    /// The artifact is a CloudFormation template to package recursively.
    pub recursive: bool,
    /// Only a file is valid here (a folder is an error).
    pub file_only: bool,
}

/// The table. Adding a packageable property is adding a row.
pub static RULES: &[Rule] = &[];

/// Where a candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site<'t> {
    /// A resource property: `Resources.<logical_id>.Properties.<path>`.
    Resource { logical_id: &'t str, resource_type: &'t str },
    /// `Parameters.Location` of an `AWS::Include` transform (anywhere in the template).
    Include,
    /// `Metadata.AWS::ServerlessRepo::Application.<LicenseUrl|ReadmeUrl>`.
    ServerlessRepo,
}

/// What a candidate value is, per SPEC A4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'t> {
    /// A local path to package (the string as written).
    Local(&'t str),
    /// Not ours to touch: tagged, a mapping or sequence, empty, or `scheme://...`.
    Skip,
    /// A number, boolean or null where a path is expected.
    NotAPath { found: &'static str },
}

/// A property node that the registry says may hold a local artifact.
#[derive(Debug, Clone)]
pub struct Candidate<'t> {
    pub site: Site<'t>,
    /// Full dotted path of the property for messages, e.g. `Code` or `Command.ScriptLocation`
    /// (the concrete keys, not `*`).
    pub property: String,
    pub rule: &'static Rule,
    pub node: &'t Node,
    pub value: Value<'t>,
}

/// All candidates of `template`, in document order.
pub fn candidates(template: &Template) -> Vec<Candidate<'_>> {
    let _ = template;
    todo!()
}
