//! `--output json`: the one JSON document that `package`, `svc package` and `svc deploy` print
//! on standard output (its shape: README, "JSON output"; [`VERSION`] is the schema's version).
//!
//! The document is built from what the commands already know (the packager's
//! [`packager::Reference`]s, the files written, the URLs uploaded to, the deployment's outcome
//! and the stack as CloudFormation describes it) and written once, as one line, when the
//! command succeeded; a failure prints no document (the error goes to stderr, as with text).
//! Paths are absolute (non-UTF-8 bytes replaced by U+FFFD).

use std::collections::BTreeMap;
use std::path::Path;

use copilot_workspace::Addons;
use serde::Serialize;
use upload::Uploaded;

use crate::report::Failure;

/// The schema's version: a field removed or changed in meaning makes a new one (fields may be
/// added within a version).
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Document {
    version: u32,
    /// `package`, `svc package` or `svc deploy`.
    command: &'static str,
    /// One entry per rewritten property that names a local path.
    artifacts: Vec<Artifact>,
    /// The templates (and parameters file) written or uploaded, in the order written.
    templates: Vec<Written>,
    /// `svc deploy` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy: Option<Deploy>,
}

#[derive(Debug, Serialize)]
struct Artifact {
    /// The template file that holds the property (for merged addons, the addons file).
    template: String,
    /// Its line there (1-based).
    line: usize,
    resource: String,
    property: String,
    kind: ArtifactKind,
    /// The local file or folder, as resolved.
    path: String,
    bucket: String,
    key: String,
    /// `s3://bucket/key`.
    s3_uri: String,
    /// The object's size in the bucket.
    bytes: u64,
    status: Status,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum ArtifactKind {
    /// A file or folder (zipped, or uploaded as it is).
    Artifact,
    /// A nested template.
    Template,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    /// Sent by this run.
    Uploaded,
    /// Already in the bucket under its content key: not sent again.
    Present,
}

/// A file written or uploaded.
#[derive(Debug, Serialize)]
struct Written {
    kind: TemplateKind,
    /// Where it was written, `null` when it was not written to a file.
    path: Option<String>,
    /// Where it was uploaded (the URL CloudFormation reads), `null` when it was not.
    url: Option<String>,
    /// What `--output text` prints on standard output (the template when no file is named),
    /// else `null`.
    text: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// `package`: the packaged template.
    Packaged,
    /// The packaged addons template.
    Addons,
    /// The service's stack template.
    Workload,
    /// The parameters (and tags) file of the service's stack.
    Parameters,
}

/// What `svc deploy` did to the stack.
#[derive(Debug, Serialize)]
pub struct Deploy {
    pub stack: String,
    /// The stack's ARN, `null` when there is no stack (no addons).
    pub stack_id: Option<String>,
    pub outcome: DeployOutcome,
    /// The change set executed, `null` when none was.
    pub change_set: Option<String>,
    /// The stack's outputs after the deployment, `null` while it runs (`started`) or without
    /// a stack.
    pub outputs: Option<BTreeMap<String, String>>,
    /// The logical IDs (in the addons template) of the functions whose code `--hotswap`
    /// updated; empty otherwise.
    pub functions_updated: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployOutcome {
    /// The stack was created.
    Created,
    /// The stack was updated.
    Updated,
    /// Nothing differed from the deployed stack: no change set executed (none made and
    /// nothing uploaded, unless `--force`).
    Unchanged,
    /// Only Lambda code changed: the functions were updated directly (`--hotswap`).
    Hotswapped,
    /// The change set was executed and not waited for (`--detach`).
    Started,
    /// The service has no addons: nothing deployed.
    NoAddons,
}

impl Deploy {
    /// A `Deploy` of `stack` described by CloudFormation as `described` (its ARN and outputs).
    pub fn of(
        stack: &str,
        outcome: DeployOutcome,
        described: Option<&deploy::StackDescription>,
    ) -> Deploy {
        Deploy {
            stack: stack.to_owned(),
            stack_id: described.map(|d| d.id.clone()),
            outcome,
            change_set: None,
            outputs: described
                .filter(|_| outcome != DeployOutcome::Started)
                .map(|d| d.outputs.iter().cloned().collect()),
            functions_updated: Vec::new(),
        }
    }
}

impl Document {
    pub fn new(command: &'static str) -> Document {
        Document {
            version: VERSION,
            command,
            artifacts: Vec::new(),
            templates: Vec::new(),
            deploy: None,
        }
    }

    /// Adds the artifacts of `references`, uploaded to `bucket`. With `addons`, a reference in
    /// their merged template names the addons file it is written in.
    pub fn artifacts(
        &mut self,
        references: &[packager::Reference],
        bucket: &str,
        addons: Option<&Addons>,
    ) {
        self.artifacts
            .extend(references.iter().map(|r| artifact(r, bucket, addons)));
    }

    /// Adds a file written or uploaded (see [`Written`]).
    pub fn template(
        &mut self,
        kind: TemplateKind,
        path: Option<&Path>,
        url: Option<String>,
        text: Option<String>,
    ) {
        self.templates.push(Written {
            kind,
            path: path.map(absolute),
            url,
            text,
        });
    }

    pub fn deploy(&mut self, deploy: Deploy) {
        self.deploy = Some(deploy);
    }

    /// Writes the document on standard output: one line, then a newline.
    pub fn write(&self) -> Result<(), Failure> {
        let mut text = serde_json::to_string(self)
            .map_err(|e| Failure::io("writing the JSON document", std::io::Error::other(e)))?;
        text.push('\n');
        crate::output::write_stdout(&text)
    }
}

fn artifact(r: &packager::Reference, bucket: &str, addons: Option<&Addons>) -> Artifact {
    let (template, line) = match addons {
        Some(addons) if addons.files().len() > 1 && r.template == addons.template().origin() => {
            let at = addons.locate(r.position);
            (at.file.clone(), at.line())
        }
        _ => (r.template.clone(), r.position.line),
    };
    Artifact {
        template: absolute(&template),
        line,
        resource: r.logical_id.clone(),
        property: r.property.clone(),
        kind: match r.kind {
            packager::ReferenceKind::Artifact => ArtifactKind::Artifact,
            packager::ReferenceKind::Template => ArtifactKind::Template,
        },
        path: absolute(&r.path),
        bucket: bucket.to_owned(),
        key: r.key.clone(),
        s3_uri: format!("s3://{bucket}/{}", r.key),
        bytes: r.bytes,
        status: match r.outcome {
            Uploaded::Sent { .. } => Status::Uploaded,
            Uploaded::Skipped => Status::Present,
        },
    }
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_kinds_are_snake_case() {
        let deploy = Deploy::of("app-test-api", DeployOutcome::NoAddons, None);
        let mut doc = Document::new("svc deploy");
        doc.template(
            TemplateKind::Workload,
            None,
            Some("https://x/y.yml".into()),
            None,
        );
        doc.deploy(deploy);
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["deploy"]["outcome"], "no_addons");
        assert_eq!(v["deploy"]["outputs"], serde_json::Value::Null);
        assert_eq!(v["templates"][0]["kind"], "workload");
        assert_eq!(v["templates"][0]["path"], serde_json::Value::Null);
        let package = serde_json::to_value(Document::new("package")).unwrap();
        assert!(package.get("deploy").is_none(), "{package}");
    }

    #[test]
    fn started_has_no_outputs_yet() {
        let described = deploy::StackDescription {
            id: "arn:stack".into(),
            status: "UPDATE_IN_PROGRESS".into(),
            tags: Vec::new(),
            parameters: Vec::new(),
            outputs: vec![("Old".into(), "value".into())],
            capabilities: Vec::new(),
        };
        let started = Deploy::of("s", DeployOutcome::Started, Some(&described));
        assert_eq!(started.stack_id.as_deref(), Some("arn:stack"));
        assert!(started.outputs.is_none());
        let updated = Deploy::of("s", DeployOutcome::Updated, Some(&described));
        assert_eq!(
            updated
                .outputs
                .and_then(|o| o.get("Old").cloned())
                .as_deref(),
            Some("value")
        );
    }
}
