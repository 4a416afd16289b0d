//! Phase 1: discover, resolve, validate and scan. No network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cfn_yaml::{Node, Template};
use futures::StreamExt;
use registry::{Candidate, Rule, Value};

use crate::{Diagnostic, Error};

/// What relative paths in a template are relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The folder of the template that contains the path (as `aws cloudformation package`).
    TemplateDir,
    /// One folder for every template, nested ones too (the Copilot workspace root).
    Root(PathBuf),
}

/// How to package.
#[derive(Debug, Clone)]
pub struct Options {
    pub base: Base,
    /// The trusted folder: symlinks inside artifacts may not point out of it (an artifact that
    /// lies outside it is its own boundary). With `confine`, relative paths may not leave it.
    pub root: PathBuf,
    /// Relative paths resolving outside `root` are errors (absolute paths are always
    /// accepted).
    pub confine: bool,
    /// Key prefix for assets and nested templates, e.g. `manual/addons/svc/assets` (no
    /// leading or trailing `/` needed).
    pub key_prefix: String,
    /// Artifacts scanned, zipped and uploaded at once.
    pub jobs: usize,
    /// Render the root template as JSON (`--use-json`).
    pub json: bool,
    /// Upload every object, also those already in the bucket (`--force-upload`).
    pub force: bool,
    /// An ignore file for the folder artifacts inside its folder, besides each folder's own
    /// `.copilotignore` (see [`archive::Policy::ignore_file`]): the workspace root's.
    pub ignore_file: Option<PathBuf>,
    /// Where zips keep their deflated entries for the next build of the same artifact
    /// (`None`: every zip is deflated from scratch; the bytes are the same either way).
    pub cache: Option<archive::Cache>,
}

/// A validated, scanned packaging job, ready to upload.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) options: Options,
    /// Post-order: every nested template comes before the templates that reference it; the
    /// root is last.
    pub(crate) templates: Vec<PlannedTemplate>,
    pub(crate) artifacts: Vec<Artifact>,
}

#[derive(Debug)]
pub(crate) struct PlannedTemplate {
    pub(crate) template: Template,
    pub(crate) items: Vec<Item>,
}

#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) node: Node,
    pub(crate) rule: &'static Rule,
    pub(crate) target: Target,
    /// The logical ID of the resource (or section) that holds the property.
    pub(crate) logical_id: String,
    /// The property's dotted path, e.g. `Code` or `Command.ScriptLocation`.
    pub(crate) property: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `artifacts[index]`, named by the local `path` (resolved as written).
    Artifact { index: usize, path: PathBuf },
    /// `templates[index]`, a nested template named by the local `path`.
    Template { index: usize, path: PathBuf },
    /// A user-written `s3://` location on a mapping-form property: written as this mapping
    /// (key, value), nothing uploaded.
    S3(Vec<(String, String)>),
}

#[derive(Debug)]
pub(crate) struct Artifact {
    pub(crate) source: archive::Source,
    /// Key suffix: the file's extension for raw files (`.json`), empty for zips.
    pub(crate) extension: String,
}

impl Prepared {
    /// Whether any artifact or nested template needs uploading.
    pub fn is_empty(&self) -> bool {
        self.artifacts.is_empty() && self.templates.len() <= 1
    }
    /// Every local file the job reads: the templates (nested ones too), the files of the
    /// artifacts (symlinks resolved) and the ignore files that applied. An output must not be
    /// one of them.
    pub fn input_files(&self) -> impl Iterator<Item = &std::path::Path> {
        self.templates
            .iter()
            .map(|t| t.template.origin())
            .chain(
                self.artifacts
                    .iter()
                    .flat_map(|a| a.source.entries.iter().map(|e| e.path.as_path())),
            )
            .chain(self.ignore_files())
    }
    /// The templates (nested ones too), the root of every artifact (a file or a folder, as
    /// named) and the ignore files that applied: what to watch for changes.
    pub fn sources(&self) -> impl Iterator<Item = &std::path::Path> {
        self.templates
            .iter()
            .map(|t| t.template.origin())
            .chain(self.artifacts.iter().map(|a| a.source.root.as_path()))
            .chain(self.ignore_files())
    }
    fn ignore_files(&self) -> impl Iterator<Item = &std::path::Path> {
        self.artifacts
            .iter()
            .flat_map(|a| a.source.excluded.iter().map(|e| e.ignore_file.as_path()))
    }
    /// Whether every object is uploaded even when present (`--force-upload`).
    pub fn force(&self) -> bool {
        self.options.force
    }
    /// The root template as given.
    pub fn root(&self) -> &Template {
        // Post-order: the root is always pushed last, and prepare always pushes it.
        &self.templates[self.templates.len() - 1].template
    }
}

/// Validates and scans everything `root` references. Returns every problem at once.
pub async fn prepare(root: Template, options: Options) -> Result<Prepared, Error> {
    let mut discovery = Discovery {
        options: &options,
        canonical_root: std::fs::canonicalize(&options.root)
            .unwrap_or_else(|_| options.root.clone()),
        templates: Vec::new(),
        by_path: HashMap::new(),
        in_progress: Vec::new(),
        requests: Vec::new(),
        by_artifact: HashMap::new(),
        diagnostics: Vec::new(),
        seq: 0,
    };
    // The root is part of the recursion stack: a nested template that includes it is a cycle.
    if let Ok(canonical) = std::fs::canonicalize(root.origin()) {
        discovery.in_progress.push(canonical);
    }
    discovery.visit(root);
    let Discovery {
        templates,
        requests,
        mut diagnostics,
        canonical_root,
        ..
    } = discovery;

    let jobs = options.jobs.max(1);
    let scans: Vec<_> = futures::stream::iter(requests.iter())
        .map(|r| archive::Source::scan(&r.path, r.force_zip, &r.policy))
        .buffered(jobs)
        .collect()
        .await;
    let mut artifacts = Vec::with_capacity(scans.len());
    for (request, scan) in requests.iter().zip(scans) {
        match scan {
            Ok(source) => {
                for excluded in &source.excluded {
                    tracing::info!("{}", excluded_line(excluded, &source.root));
                }
                let extension = match source.packing {
                    archive::Packing::Zip => String::new(),
                    archive::Packing::Raw => extension_of(&request.path),
                };
                artifacts.push(Artifact { source, extension });
            }
            Err(e) => {
                let (seq, mut d) = request.first_use.clone();
                d.message = e.to_string();
                diagnostics.push((seq, d));
            }
        }
    }
    if !diagnostics.is_empty() {
        diagnostics.sort_by_key(|(seq, _)| *seq);
        return Err(Error::Invalid(
            diagnostics
                .into_iter()
                .map(|(_, d)| only_position_if_foreign(d, &canonical_root))
                .collect(),
        ));
    }
    Ok(Prepared {
        options,
        templates,
        artifacts,
    })
}

struct ArtifactRequest {
    path: PathBuf,
    force_zip: bool,
    policy: archive::Policy,
    /// Where it is first referenced, for errors found while scanning.
    first_use: (usize, Diagnostic),
}

struct Discovery<'o> {
    options: &'o Options,
    canonical_root: PathBuf,
    templates: Vec<PlannedTemplate>,
    /// Canonical path of a nested template file -> its index in `templates`.
    by_path: HashMap<PathBuf, usize>,
    /// Canonical paths of the templates being visited (the recursion stack).
    in_progress: Vec<PathBuf>,
    requests: Vec<ArtifactRequest>,
    /// (canonical path, force_zip) -> index in `requests`.
    by_artifact: HashMap<(PathBuf, bool), usize>,
    /// (sequence number of the reference, diagnostic): sorted by sequence at the end, which is
    /// document order, nested templates in place of the property that references them.
    diagnostics: Vec<(usize, Diagnostic)>,
    seq: usize,
}

impl Discovery<'_> {
    /// Visits a template and everything it references; returns its index in `templates`.
    fn visit(&mut self, template: Template) -> usize {
        let file = template.origin().to_path_buf();
        let base_dir = match &self.options.base {
            Base::Root(root) => root.clone(),
            Base::TemplateDir => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let mut items = Vec::new();
        // Malformed `Fn::ForEach::` loops, reported in document order among the candidates.
        let mut loops = registry::malformed_loops(&template).into_iter().peekable();
        let loop_problem = |this: &mut Self, problem: registry::MalformedLoop<'_>| {
            this.seq += 1;
            let mut d = Diagnostic::new(template.locate(problem.node.span), problem.message);
            d.logical_id = Some(problem.name.to_string());
            this.diagnostics.push((this.seq, d));
        };
        for candidate in registry::candidates(&template) {
            while let Some(problem) =
                loops.next_if(|p| p.node.span.start.byte < candidate.node.span.start.byte)
            {
                loop_problem(self, problem);
            }
            self.seq += 1;
            let seq = self.seq;
            let diag = |message: String, resolved: Option<PathBuf>| {
                let mut d = Diagnostic::new(template.locate(candidate.node.span), message);
                d.logical_id = Some(candidate.site.name().to_string());
                d.property = Some(candidate.property.clone());
                d.resolved = resolved;
                d
            };
            let value = match candidate.value {
                Value::Local(v) => v,
                Value::Skip => continue,
                Value::S3(url) => {
                    if let Some(entries) = candidate.rule.form.s3_entries(&url) {
                        items.push(Item {
                            node: candidate.node.clone(),
                            rule: candidate.rule,
                            target: Target::S3(entries),
                            logical_id: candidate.site.name().to_string(),
                            property: candidate.property.clone(),
                        });
                    }
                    continue;
                }
                Value::BadS3Url { reason } => {
                    self.diagnostics.push((seq, diag(reason.to_string(), None)));
                    continue;
                }
                Value::NotAPath { found } => {
                    self.diagnostics.push((
                        seq,
                        diag(format!("expected a path string, found {found}"), None),
                    ));
                    continue;
                }
            };
            let relative = Path::new(value).is_relative();
            match self.resolve(value, &base_dir) {
                Err(message) => self.diagnostics.push((seq, diag(message, None))),
                Ok(resolved) => match self.reference(&candidate, &resolved, relative) {
                    Ok(Reference::Template(canonical)) => {
                        if let Some(target) = self.nested(canonical, &resolved, seq, &diag) {
                            items.push(Item {
                                node: candidate.node.clone(),
                                rule: candidate.rule,
                                target: Target::Template {
                                    index: target,
                                    path: resolved.clone(),
                                },
                                logical_id: candidate.site.name().to_string(),
                                property: candidate.property.clone(),
                            });
                        }
                    }
                    Ok(Reference::Artifact { canonical, policy }) => {
                        let key = (canonical, candidate.rule.force_zip);
                        let index = match self.by_artifact.get(&key) {
                            Some(&i) => i,
                            None => {
                                let i = self.requests.len();
                                self.requests.push(ArtifactRequest {
                                    path: resolved.clone(),
                                    force_zip: candidate.rule.force_zip,
                                    policy,
                                    first_use: (seq, diag(String::new(), Some(resolved.clone()))),
                                });
                                self.by_artifact.insert(key, i);
                                i
                            }
                        };
                        items.push(Item {
                            node: candidate.node.clone(),
                            rule: candidate.rule,
                            target: Target::Artifact {
                                index,
                                path: resolved.clone(),
                            },
                            logical_id: candidate.site.name().to_string(),
                            property: candidate.property.clone(),
                        });
                    }
                    Err(message) => self.diagnostics.push((seq, diag(message, Some(resolved)))),
                },
            }
        }
        for problem in loops {
            loop_problem(self, problem);
        }
        self.templates.push(PlannedTemplate { template, items });
        self.templates.len() - 1
    }

    /// Resolves a written path (SPEC A4): relative to the base folder, absolute as is, both
    /// normalized lexically; under confinement a relative path may not leave the root.
    fn resolve(&self, value: &str, base_dir: &Path) -> Result<PathBuf, String> {
        registry::resolve(value, base_dir, &self.options.root, self.options.confine)
            .map_err(|e| e.to_string())
    }

    /// Checks what is at `resolved` against what the property accepts.
    fn reference(
        &self,
        candidate: &Candidate<'_>,
        resolved: &Path,
        written_relative: bool,
    ) -> Result<Reference, String> {
        let meta = match std::fs::metadata(resolved) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err("file or folder does not exist".to_string());
            }
            Err(e) => return Err(format!("cannot read: {e}")),
        };
        let canonical = std::fs::canonicalize(resolved).map_err(|e| format!("cannot read: {e}"))?;
        // The lexical check passed; a symlink on the way may still lead out of the root.
        if self.options.confine && written_relative && !canonical.starts_with(&self.canonical_root)
        {
            return Err(format!(
                "path leaves the workspace root {} through a symbolic link (it resolves to {}; write an absolute path if this is intended)",
                self.options.root.display(),
                canonical.display()
            ));
        }
        if meta.is_dir() && candidate.rule.file_only {
            return Err(if candidate.rule.recursive {
                "expected a template file, found a folder".to_string()
            } else {
                "expected a file, found a folder".to_string()
            });
        }
        if !meta.is_dir() && !meta.is_file() {
            return Err(format!(
                "is a {}, not a regular file or folder",
                special_kind(&meta.file_type())
            ));
        }
        if candidate.rule.recursive {
            return Ok(Reference::Template(canonical));
        }
        let boundary = if canonical.starts_with(&self.canonical_root) {
            self.canonical_root.clone()
        } else if meta.is_dir() {
            canonical.clone()
        } else {
            canonical
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| canonical.clone())
        };
        Ok(Reference::Artifact {
            canonical,
            policy: archive::Policy {
                boundary,
                ignore_file: self.options.ignore_file.clone(),
            },
        })
    }

    /// Parses and visits a nested template, once per file; `None` on error (recorded).
    fn nested(
        &mut self,
        canonical: PathBuf,
        resolved: &Path,
        seq: usize,
        diag: &dyn Fn(String, Option<PathBuf>) -> Diagnostic,
    ) -> Option<usize> {
        if self.in_progress.contains(&canonical) {
            let chain: Vec<String> = self
                .in_progress
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| p.display().to_string())
                .collect();
            self.diagnostics.push((
                seq,
                diag(
                    format!("nested template cycle: {}", chain.join(" -> ")),
                    Some(resolved.to_path_buf()),
                ),
            ));
            return None;
        }
        if let Some(&index) = self.by_path.get(&canonical) {
            return Some(index);
        }
        let text = match std::fs::read_to_string(resolved) {
            Ok(t) => t,
            Err(e) => {
                self.diagnostics.push((
                    seq,
                    diag(
                        format!("cannot read the template: {e}"),
                        Some(resolved.to_path_buf()),
                    ),
                ));
                return None;
            }
        };
        let template = match Template::parse(resolved, text) {
            Ok(t) => t,
            Err(e) => {
                let referrer = diag(String::new(), None);
                let message = format!(
                    "{} (in the nested template of resource {}, property {})",
                    e.message,
                    referrer.logical_id.as_deref().unwrap_or("?"),
                    referrer.property.as_deref().unwrap_or("?"),
                );
                let d = Diagnostic::new(e.at, message);
                self.diagnostics.push((seq, d));
                return None;
            }
        };
        self.in_progress.push(canonical.clone());
        let index = self.visit(template);
        self.in_progress.pop();
        self.by_path.insert(canonical, index);
        Some(index)
    }
}

/// A problem in a file outside the trusted folder (a nested template given by an absolute
/// path, or reached through `..`) keeps its position only: its text, the message (which may
/// quote it) and the names read from it are dropped, so that a template pointing at
/// `/proc/self/environ` or a credentials file cannot make the report print their content.
fn only_position_if_foreign(d: Diagnostic, root: &Path) -> Diagnostic {
    let inside = std::fs::canonicalize(&d.at.file).is_ok_and(|f| f.starts_with(root));
    if inside {
        return d;
    }
    Diagnostic::new(
        d.at.without_text(),
        format!(
            "problem in a file outside {}; only its position is shown, not its content",
            root.display()
        ),
    )
}

enum Reference {
    Template(PathBuf),
    Artifact {
        canonical: PathBuf,
        policy: archive::Policy,
    },
}

/// `-v`: `<ignore file> excluded 3 files and 1 folder from <artifact>`.
fn excluded_line(excluded: &archive::Excluded, root: &Path) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "{} excluded {}",
        excluded.ignore_file.display(),
        count(excluded.files, "file")
    );
    if excluded.folders > 0 {
        line.push_str(&format!(" and {}", count(excluded.folders, "folder")));
    }
    line.push_str(&format!(" from {}", root.display()));
    line
}

/// What a file that is neither a regular file nor a folder is, for messages.
fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// `.json` for `defs/api.json`; empty when there is no (sane) extension.
fn extension_of(path: &Path) -> String {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext)
            if !ext.is_empty()
                && ext.len() <= 16
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{ext}")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_lines() {
        let mut excluded = archive::Excluded {
            ignore_file: PathBuf::from("/ws/.copilotignore"),
            files: 1,
            folders: 0,
        };
        let root = Path::new("/ws/fn");
        assert_eq!(
            excluded_line(&excluded, root),
            "/ws/.copilotignore excluded 1 file from /ws/fn"
        );
        (excluded.files, excluded.folders) = (0, 2);
        assert_eq!(
            excluded_line(&excluded, root),
            "/ws/.copilotignore excluded 0 files and 2 folders from /ws/fn"
        );
    }

    #[test]
    fn extensions() {
        assert_eq!(extension_of(Path::new("defs/api.json")), ".json");
        assert_eq!(extension_of(Path::new("defs/Makefile")), "");
        assert_eq!(extension_of(Path::new("x/a b.we ird")), "");
    }
}
