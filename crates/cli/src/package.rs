//! `copilot-lite package`: the `aws cloudformation package` drop-in.

use std::path::{Path, PathBuf};

use crate::args::{AwsArgs, CacheArgs, PackageArgs, SseArg, UploadArgs};
use crate::json::{Document, TemplateKind};
use crate::output::{self, FileId, Target};
use crate::progress::Progress;
use crate::report::Failure;

pub async fn run(args: PackageArgs) -> Result<(), Failure> {
    let template = read_template(&args.template_file)?;
    let folder = template
        .origin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let options = packager::Options {
        base: packager::Base::TemplateDir,
        root: folder,
        confine: false,
        key_prefix: args.s3_prefix.clone().unwrap_or_default(),
        jobs: args.upload.jobs,
        json: args.use_json,
        force: args.upload.force_upload,
        // No workspace here: only each artifact folder's own `.copilotignore`.
        ignore_file: None,
        cache: cache(&args.upload.cache),
    };
    let prepared = packager::prepare(template, options).await?;
    let mut doc = args.output.json().then(|| Document::new("package"));
    // Where the result goes, checked before anything is uploaded: writable, and not one of
    // the files read (the templates, nested ones too, and the artifacts' files).
    let output = match &args.output_template_file {
        Some(path) => {
            let inputs: Vec<FileId> = prepared.input_files().filter_map(FileId::of).collect();
            let target = Target::plan(path, &inputs)?;
            if doc.is_some() {
                output::check_stdout()?;
                if target.is_stdout() {
                    return Err(Failure::Usage(format!(
                        "--output-template-file {} is standard output, where --output json writes its document: name another file, or leave --output-template-file out (the document then holds the template)",
                        path.display()
                    )));
                }
            }
            Some(target)
        }
        None => {
            output::check_stdout()?;
            None
        }
    };
    let text = match prepared.render_unchanged()? {
        Some(text) => {
            tracing::info!("no local artifacts: nothing to upload");
            text
        }
        None => {
            let uploader = connect(&args.aws, &args.upload, &args.s3_bucket).await?;
            let progress = Progress::new("Uploading", &uploader);
            let packaged = prepared.upload(&uploader, &progress).await;
            progress.finish();
            let packaged = packaged?;
            crate::progress::summary(&packaged.uploads);
            if let Some(doc) = &mut doc {
                doc.artifacts(&packaged.references, uploader.bucket(), None);
            }
            packaged.text
        }
    };
    match output {
        Some(target) => {
            let shown = target.shown().to_path_buf();
            output::write_all(vec![(target, text.as_bytes())])?;
            eprintln!(
                "Successfully packaged artifacts and wrote output template to file {}.",
                crate::report::escape(&shown.display().to_string())
            );
            if let Some(doc) = &mut doc {
                doc.template(TemplateKind::Packaged, Some(&shown), None, None);
            }
        }
        None => match &mut doc {
            Some(doc) => doc.template(TemplateKind::Packaged, None, None, Some(text)),
            None => output::write_stdout(&text)?,
        },
    }
    match doc {
        Some(doc) => doc.write(),
        None => Ok(()),
    }
}

/// Reads and parses a template; the path is made absolute so that messages and nested
/// references are unambiguous.
pub fn read_template(path: &Path) -> Result<cfn_yaml::Template, Failure> {
    let absolute = std::path::absolute(path)
        .map_err(|e| Failure::io(format!("reading {}", path.display()), e))?;
    // Opening a FIFO would block until something writes to it: look before reading.
    let meta = std::fs::metadata(&absolute)
        .map_err(|e| Failure::io(format!("reading template {}", path.display()), e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a folder"
        } else if std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
            "a FIFO"
        } else {
            "a special file"
        };
        return Err(Failure::Usage(format!(
            "template {} is {what}, not a regular file",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(&absolute)
        .map_err(|e| Failure::io(format!("reading template {}", path.display()), e))?;
    cfn_yaml::Template::parse(&absolute, text).map_err(Failure::Parse)
}

/// The compressed-entry cache the flags ask for: none with `--no-cache`, or when the user has
/// no cache folder and named none.
pub fn cache(args: &CacheArgs) -> Option<packager::Cache> {
    if args.no_cache {
        return None;
    }
    let dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => {
            use etcetera::BaseStrategy;
            etcetera::base_strategy::choose_native_strategy()
                .ok()?
                .cache_dir()
                .join("copilot-lite")
                .join("zip-entries")
        }
    };
    Some(packager::Cache {
        dir,
        max_bytes: args.cache_mib.saturating_mul(1024 * 1024),
    })
}

/// Builds the S3 client for `bucket` from the shared flags.
pub async fn connect(
    aws: &AwsArgs,
    up: &UploadArgs,
    bucket: &str,
) -> Result<upload::Uploader, Failure> {
    let sse = match (up.sse, &up.kms_key_id) {
        (Some(SseArg::Aes256), Some(_)) => {
            return Err(Failure::Usage(
                "--kms-key-id needs --sse aws:kms (or no --sse)".into(),
            ));
        }
        (Some(SseArg::Aes256), None) => Some(upload::Sse::Aes256),
        (Some(SseArg::Kms), key) | (None, key @ Some(_)) => Some(upload::Sse::Kms {
            key_id: key.clone(),
        }),
        (None, None) => None,
    };
    let options = upload::Options {
        sse,
        metadata: up.metadata.clone().unwrap_or_default(),
        expected_owner: up.expected_bucket_owner.clone(),
        owner_full_control_acl: true,
        multipart_threshold: 0,
        part_size: 0,
    };
    let conn = upload::Connection {
        region: aws.region.clone(),
        endpoint: aws.endpoint_url.clone(),
        sdk: Some(crate::aws::sdk(aws).await?.clone()),
    };
    Ok(upload::Uploader::connect(&conn, bucket, options).await?)
}
