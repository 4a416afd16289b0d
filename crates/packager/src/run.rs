//! Phases 2 and 3: keys and rendering, then uploads.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use cfn_yaml::{Edits, Format, Pos, Replacement};
use futures::{StreamExt, TryStreamExt};
use registry::Form;
use upload::Uploaded;

use crate::Error;
use crate::key::{object_key, template_key, template_kind};
use crate::plan::{Prepared, Target};
use crate::store::Store;

/// Receives progress events. The engine prints nothing itself.
pub trait Observer: Sync {
    /// `total` distinct objects are about to be checked and uploaded.
    fn uploads_planned(&self, _total: usize, _bytes: u64) {}
    /// An object was uploaded or found present.
    fn upload_finished(&self, _report: &UploadReport) {}
}

/// An [`Observer`] that ignores everything.
impl Observer for () {}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    pub key: String,
    /// The local file or folder, or the nested template file.
    pub source: PathBuf,
    pub outcome: Uploaded,
    /// The object's size in the bucket: the bytes sent, or the size S3 reports for an object
    /// already there.
    pub bytes: u64,
    /// SHA-256 of the zip, when one was written this run (not for objects already present).
    pub zip_sha256: Option<[u8; 32]>,
}

/// What a rewritten property names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// A local file or folder (zipped, or uploaded as it is).
    Artifact,
    /// A nested template (packaged, then uploaded).
    Template,
}

/// One rewritten property and the object it now names: a key referenced by several properties
/// has one `Reference` for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The template file that holds the property (a nested template's own file for its
    /// properties).
    pub template: PathBuf,
    /// Where the property's value starts in that template's text.
    pub position: Pos,
    /// The logical ID of the resource (or section) that holds the property.
    pub logical_id: String,
    /// The property's dotted path, e.g. `Code` or `Command.ScriptLocation`.
    pub property: String,
    pub kind: ReferenceKind,
    /// The local path, resolved as written (symlinks not followed).
    pub path: PathBuf,
    /// The object's key in the bucket.
    pub key: String,
    /// Sent this run, or already present.
    pub outcome: Uploaded,
    /// The object's size ([`UploadReport::bytes`]).
    pub bytes: u64,
}

/// A packaged root template.
#[derive(Debug)]
pub struct Packaged {
    /// The packaged root template text.
    pub text: String,
    /// One entry per distinct object, in key order.
    pub uploads: Vec<UploadReport>,
    /// One entry per rewritten property that names a local path, template by template (nested
    /// templates before the templates that reference them, the root last), each template's in
    /// document order.
    pub references: Vec<Reference>,
}

/// A [`Reference`] before its object is uploaded; `seq` orders them.
struct Use {
    seq: usize,
    template: PathBuf,
    position: Pos,
    logical_id: String,
    property: String,
    kind: ReferenceKind,
    path: PathBuf,
}

impl Use {
    fn reference(self, report: &UploadReport) -> Reference {
        Reference {
            template: self.template,
            position: self.position,
            logical_id: self.logical_id,
            property: self.property,
            kind: self.kind,
            path: self.path,
            key: report.key.clone(),
            outcome: report.outcome,
            bytes: report.bytes,
        }
    }
}

/// What [`Prepared::render_all`] gives: the root text, the objects to upload (one per
/// distinct key), and the properties that name each key.
struct Rendered<'p> {
    root_text: String,
    jobs: Vec<Job<'p>>,
    uses: HashMap<String, Vec<Use>>,
}

enum Job<'p> {
    Asset {
        key: String,
        source: &'p archive::Source,
    },
    Template {
        key: String,
        path: PathBuf,
        text: String,
        content_type: &'static str,
    },
}

impl Prepared {
    /// The packaged root template without uploading anything, for a plan with nothing to
    /// upload; `None` when something needs uploading.
    pub fn render_unchanged(&self) -> Result<Option<String>, Error> {
        if !self.is_empty() {
            return Ok(None);
        }
        // Only user-written `s3://` locations on mapping-form properties can be rewritten.
        let mut edits = Edits::new();
        if let Some(root) = self.templates.last() {
            for item in &root.items {
                if let Target::S3(entries) = &item.target {
                    edits.replace(&item.node, Replacement::Mapping(entries.clone()));
                }
            }
        }
        self.render_root(&edits).map(Some)
    }

    /// The packaged root template as [`Prepared::upload`] would return it, without uploading
    /// anything (for `--diff`). Keys are content hashes, so the text is exact.
    pub fn render(&self, uploader: &impl Store) -> Result<String, Error> {
        self.render_all(uploader).map(|r| r.root_text)
    }

    /// Renders every template with its rewritten properties, then uploads every object that is
    /// missing from the bucket. Returns the packaged root template.
    pub async fn upload(
        self,
        uploader: &impl Store,
        observer: &dyn Observer,
    ) -> Result<Packaged, Error> {
        let Rendered {
            root_text,
            jobs,
            mut uses,
        } = self.render_all(uploader)?;
        // Phase 3: upload what is missing.
        let bytes = self.artifacts.iter().map(|a| a.source.content_bytes).sum();
        observer.uploads_planned(jobs.len(), bytes);
        // Private (0700): the zips of the user's code wait here until uploaded.
        let temp = tempfile::Builder::new()
            .prefix("copilot-lite-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(Error::Temp)?;
        let temp_dir = temp.path();
        // Many keys: one listing per folder instead of one HeadObject per key, when allowed.
        let force = self.options.force;
        let cache = self.options.cache.as_ref();
        let present = if force {
            None
        } else {
            let keys: Vec<&str> = jobs.iter().map(Job::key).collect();
            uploader.existing(&keys).await?
        };
        let present = present.as_ref();
        let mut uploads: Vec<UploadReport> = futures::stream::iter(jobs)
            .map(|job| async move {
                let report = run_job(job, uploader, force, temp_dir, cache, present).await?;
                observer.upload_finished(&report);
                Ok::<_, Error>(report)
            })
            .buffer_unordered(self.options.jobs.max(1))
            .try_collect()
            .await?;
        uploads.sort_by(|a, b| a.key.cmp(&b.key));
        let mut references: Vec<(usize, Reference)> = uploads
            .iter()
            .flat_map(|report| {
                let uses = uses.remove(&report.key).unwrap_or_default();
                uses.into_iter().map(|u| (u.seq, u.reference(report)))
            })
            .collect();
        references.sort_by_key(|(seq, _)| *seq);
        Ok(Packaged {
            text: root_text,
            uploads,
            references: references.into_iter().map(|(_, r)| r).collect(),
        })
    }

    /// Phase 2: keys, and every template rendered bottom-up (post-order), so that a nested
    /// template's key is known before its parent is rendered.
    fn render_all(&self, uploader: &impl Store) -> Result<Rendered<'_>, Error> {
        let key_for =
            |hex: &str, extension: &str| object_key(&self.options.key_prefix, hex, extension);
        let asset_keys: Vec<String> = self
            .artifacts
            .iter()
            .map(|a| key_for(&a.source.key, &a.extension))
            .collect();
        let mut template_keys: Vec<String> = Vec::with_capacity(self.templates.len());
        let mut jobs: Vec<Job<'_>> = Vec::new();
        let mut root_text = String::new();
        let mut uses: HashMap<String, Vec<Use>> = HashMap::new();
        let mut seq = 0;
        let last = self.templates.len().saturating_sub(1);
        for (index, planned) in self.templates.iter().enumerate() {
            let mut edits = Edits::new();
            for item in &planned.items {
                let (key, kind, path) = match &item.target {
                    Target::Artifact { index, path } => {
                        (&asset_keys[*index], ReferenceKind::Artifact, path)
                    }
                    Target::Template { index, path } => {
                        (&template_keys[*index], ReferenceKind::Template, path)
                    }
                    Target::S3(entries) => {
                        edits.replace(&item.node, Replacement::Mapping(entries.clone()));
                        continue;
                    }
                };
                seq += 1;
                uses.entry(key.clone()).or_default().push(Use {
                    seq,
                    template: planned.template.origin().to_path_buf(),
                    position: item.node.span.start,
                    logical_id: item.logical_id.clone(),
                    property: item.property.clone(),
                    kind,
                    path: path.clone(),
                });
                let replacement = match item.rule.form {
                    Form::Uri => Replacement::String(uploader.s3_uri(key)),
                    Form::Https => Replacement::String(uploader.https_url(key)),
                    Form::Map {
                        bucket,
                        key: key_name,
                        version: _,
                    } => Replacement::Mapping(vec![
                        (bucket.to_string(), uploader.bucket().to_string()),
                        (key_name.to_string(), key.clone()),
                    ]),
                };
                edits.replace(&item.node, replacement);
            }
            if index == last {
                root_text = self.render_root(&edits)?;
                template_keys.push(String::new());
            } else {
                let text = planned.template.render(&edits);
                let format = planned.template.format();
                let (_, content_type) = template_kind(format);
                let key = template_key(&self.options.key_prefix, &text, format);
                template_keys.push(key.clone());
                jobs.push(Job::Template {
                    key,
                    path: planned.template.origin().to_path_buf(),
                    text,
                    content_type,
                });
            }
        }
        let mut seen = HashSet::new();
        for (artifact, key) in self.artifacts.iter().zip(&asset_keys) {
            if seen.insert(key.clone()) {
                jobs.push(Job::Asset {
                    key: key.clone(),
                    source: &artifact.source,
                });
            }
        }
        jobs.retain(|job| match job {
            Job::Template { key, .. } => seen.insert(key.clone()),
            Job::Asset { .. } => true,
        });
        Ok(Rendered {
            root_text,
            jobs,
            uses,
        })
    }

    fn render_root(&self, edits: &Edits) -> Result<String, Error> {
        let root = self.root();
        if self.options.json && root.format() != Format::Json {
            root.render_json(edits).map_err(|source| Error::Render {
                path: root.origin().to_path_buf(),
                source,
            })
        } else {
            Ok(root.render(edits))
        }
    }
}

impl Job<'_> {
    fn key(&self) -> &str {
        match self {
            Job::Asset { key, .. } | Job::Template { key, .. } => key,
        }
    }
}

/// Builds an artifact and stores it at `key`. A zip is uploaded while it is written (its parts
/// go out as the build passes their end), so the upload overlaps the build; a failed build is
/// the error, and an upload it had begun is abandoned (nothing stored).
async fn build_and_put(
    source: &archive::Source,
    uploader: &impl Store,
    key: &str,
    temp_dir: &std::path::Path,
    cache: Option<&archive::Cache>,
) -> Result<(archive::Built, Uploaded), Error> {
    let build_failed = |e| Error::Build {
        path: source.root.clone(),
        source: e,
    };
    if source.packing != archive::Packing::Zip {
        let built = source.build(temp_dir, cache).await.map_err(build_failed)?;
        let outcome = uploader
            .put_file(key, &built.path, built.content_type)
            .await?;
        return Ok((built, outcome));
    }
    let (tell, file) = tokio::sync::watch::channel(upload::Growing::default());
    let progress: archive::Progress = {
        let tell = tell.clone();
        Box::new(move |path, ready| {
            tell.send_replace(upload::Growing {
                path: Some(path.to_path_buf()),
                ready,
                complete: false,
            });
        })
    };
    let build = async move {
        let built = source
            .build_reporting(temp_dir, cache, Some(progress))
            .await;
        if let Ok(built) = &built {
            tell.send_replace(upload::Growing {
                path: Some(built.path.clone()),
                ready: built.size,
                complete: true,
            });
        }
        // Dropped here (the progress's copy went with the build's thread): a build that
        // failed closes the channel, and the upload gives up.
        drop(tell);
        built
    };
    let upload = uploader.put_growing(
        key,
        archive::ZIP_CONTENT_TYPE,
        source.zip_size_bound(),
        file,
    );
    let (built, outcome) = tokio::join!(build, upload);
    let built = built.map_err(build_failed)?;
    Ok((built, outcome?))
}

/// Uploads one object unless it exists. `present`: the keys known to exist with their sizes,
/// when the bucket was listed (then nothing else exists); else each key is checked on its own.
async fn run_job(
    job: Job<'_>,
    uploader: &impl Store,
    force: bool,
    temp_dir: &std::path::Path,
    cache: Option<&archive::Cache>,
    present: Option<&HashMap<String, u64>>,
) -> Result<UploadReport, Error> {
    // The size of the object when it exists (and is not to be uploaded again).
    let existing = async |key: &str| -> Result<Option<u64>, Error> {
        if force {
            return Ok(None);
        }
        Ok(match present {
            Some(present) => present.get(key).copied(),
            None => uploader.size(key).await?,
        })
    };
    let sent = |outcome: Uploaded| match outcome {
        Uploaded::Sent { bytes } => bytes,
        Uploaded::Skipped => 0,
    };
    match job {
        Job::Template {
            key,
            path,
            text,
            content_type,
        } => {
            let (outcome, bytes) = match existing(&key).await? {
                Some(size) => (Uploaded::Skipped, size),
                None => {
                    let outcome = uploader
                        .put_bytes(&key, text.into_bytes(), content_type)
                        .await?;
                    (outcome, sent(outcome))
                }
            };
            Ok(UploadReport {
                key,
                source: path,
                outcome,
                bytes,
                zip_sha256: None,
            })
        }
        Job::Asset { key, source } => {
            // Zip only when the object is missing: a warm run reads and hashes, nothing more.
            let (outcome, bytes, zip_sha256) = match existing(&key).await? {
                Some(size) => (Uploaded::Skipped, size, None),
                None => {
                    let (built, outcome) =
                        build_and_put(source, uploader, &key, temp_dir, cache).await?;
                    (outcome, sent(outcome), built.sha256)
                }
            };
            Ok(UploadReport {
                key,
                source: source.root.clone(),
                outcome,
                bytes,
                zip_sha256,
            })
        }
    }
}
