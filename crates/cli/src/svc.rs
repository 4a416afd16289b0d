//! `copilot-lite svc ...`: the Copilot workflow over a workspace.

use cfn_yaml::Format;
use copilot_workspace::{Addons, Service, Workspace};
use deploy::{CancellationToken, Deployer, Outcome, StackRequest, Template};

use crate::args::{
    AwsArgs, BucketArgs, SvcDeleteArgs, SvcDeployArgs, SvcLsArgs, SvcPackageArgs, SvcTarget,
    UploadArgs,
};
use crate::deploy_view::DeployView;
use crate::package::{connect, write_atomically};
use crate::progress::Progress;
use crate::report::Failure;

pub async fn ls(args: SvcLsArgs) -> Result<(), Failure> {
    let ws = workspace(args.app.as_deref())?;
    let services = ws.list_services()?;
    println!("{:<24} {:<28} ADDONS", "NAME", "TYPE");
    for svc in services {
        let addons = match svc.addons() {
            Ok(Some(a)) => a.files().len().to_string(),
            Ok(None) => "-".to_string(),
            Err(e) => format!("invalid ({e})"),
        };
        println!(
            "{:<24} {:<28} {addons}",
            svc.name(),
            svc.service_type().as_str()
        );
    }
    Ok(())
}

pub async fn package(args: SvcPackageArgs) -> Result<(), Failure> {
    let (ws, svc, addons) = load(&args.target)?;
    let app = ws.app().to_string();
    let (name, env) = (svc.name().to_string(), args.target.env.clone());
    let tags = tags(args.resource_tags.as_ref());
    let mut addons_text = None;
    let mut addons_url = String::new();
    if let Some(addons) = &addons {
        let prepared = prepare(&ws, &svc, addons, &args.bucket, &args.upload).await?;
        if args.upload_assets {
            let (bucket, owner) = resolve_bucket(&args.bucket, &args.aws, &app).await?;
            let upload_args = pin_owner(&args.upload, owner);
            let uploader = connect(&args.aws, &upload_args, &bucket).await?;
            let (text, url) = upload_addons(prepared, &uploader, &args.bucket, &name).await?;
            addons_text = Some(text);
            addons_url = url;
        } else {
            addons_text = Some(addons.text().to_string());
        }
    }
    match &args.output_dir {
        None => match addons_text {
            Some(text) => print!("{text}"),
            None => eprintln!(
                "Service {name} has no addons ({}).",
                svc.addons_dir().display()
            ),
        },
        Some(dir) => {
            let stack = copilot_workspace::workload_template(addons.as_ref());
            let params =
                copilot_workspace::workload_params_json(&app, &env, &name, &addons_url, &tags);
            write_atomically(
                &dir.join(format!("{name}-{env}.stack.yml")),
                stack.as_bytes(),
            )?;
            write_atomically(
                &dir.join(format!("{name}-{env}.params.json")),
                params.as_bytes(),
            )?;
            if let Some(text) = addons_text {
                write_atomically(
                    &dir.join(format!("{name}.addons.stack.yml")),
                    text.as_bytes(),
                )?;
            }
            eprintln!(
                "Wrote the templates of service {name} for environment {env} to {}.",
                dir.display()
            );
        }
    }
    Ok(())
}

pub async fn deploy(args: SvcDeployArgs) -> Result<(), Failure> {
    let (ws, svc, addons) = load(&args.target)?;
    let app = ws.app().to_string();
    let (name, env) = (svc.name().to_string(), args.target.env.clone());
    let Some(addons) = addons else {
        eprintln!(
            "Service {name} has no addons ({}): nothing to deploy.",
            svc.addons_dir().display()
        );
        return Ok(());
    };
    // Validate everything before the first AWS call.
    let prepared = prepare(&ws, &svc, &addons, &args.bucket, &args.upload).await?;
    let stack_name = copilot_workspace::stack_name(&app, &env, &name);
    let view = DeployView::new(&stack_name);
    let deployer = Deployer::connect(args.aws.region.clone(), None).await?;
    let bucket = match &args.bucket.bucket {
        Some(b) => b.clone(),
        None => deployer.ensure_app_bucket(&app, &view).await?,
    };
    // The artifact bucket is the caller's own (Copilot's model): every S3 request carries the
    // account as ExpectedBucketOwner, so a bucket name taken over by another account is refused.
    let owner = match &args.upload.expected_bucket_owner {
        Some(_) => None,
        None => Some(deployer.account_id().await?),
    };
    let upload_args = pin_owner(&args.upload, owner);
    let uploader = connect(&args.aws, &upload_args, &bucket).await?;
    let workload = copilot_workspace::workload_template(Some(&addons));

    if args.diff {
        return diff(&deployer, &stack_name, &workload, &prepared, &uploader).await;
    }

    let (_, addons_url) = upload_addons(prepared, &uploader, &args.bucket, &name).await?;
    let prefix = key_prefix(&args.bucket, &format!("manual/templates/{stack_name}"));
    let (key, _) = packager::upload_template(&uploader, &prefix, &workload, Format::Yaml).await?;
    let mut request = StackRequest::new(&stack_name, Template::Url(uploader.https_url(&key)));
    request.parameters = vec![
        ("AppName".into(), app.clone()),
        ("EnvName".into(), env.clone()),
        ("WorkloadName".into(), name.clone()),
        ("AddonsTemplateURL".into(), addons_url),
    ];
    request.tags = tags(args.resource_tags.as_ref());
    request.tags.splice(
        0..0,
        [
            ("copilot-application".to_string(), app.clone()),
            ("copilot-environment".to_string(), env.clone()),
            ("copilot-service".to_string(), name.clone()),
        ],
    );
    request.disable_rollback = args.no_rollback;
    request.detach = args.detach;

    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
    let outcome = deployer.deploy_with_cancel(&request, &view, &cancel).await;
    watcher.abort();
    view.finish();
    match outcome? {
        Outcome::NoChanges => eprintln!("No changes to deploy: stack {stack_name} is up to date."),
        Outcome::Created | Outcome::Updated => {
            eprintln!("Deployed service {name} to environment {env} (stack {stack_name}).")
        }
        Outcome::Detached => {
            eprintln!("Deployment of stack {stack_name} started; not waiting (--detach).")
        }
    }
    Ok(())
}

pub async fn delete(args: SvcDeleteArgs) -> Result<(), Failure> {
    let ws = workspace(args.target.app.as_deref())?;
    let stack_name = copilot_workspace::stack_name(ws.app(), &args.target.env, &args.target.name);
    let deployer = Deployer::connect(args.aws.region.clone(), None).await?;
    let view = DeployView::new(&stack_name);
    let result = deployer.delete_stack(&stack_name, &view).await;
    view.finish();
    result?;
    eprintln!("Deleted stack {stack_name} (uploaded assets are kept).");
    Ok(())
}

/// First Ctrl-C: cancel the deployment safely. Second: leave at once.
async fn cancel_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\nCancelling the deployment (press Ctrl-C again to leave now)...");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    }
}

fn workspace(app: Option<&str>) -> Result<Workspace, Failure> {
    let cwd = std::env::current_dir().map_err(|e| Failure::io("reading the current folder", e))?;
    Ok(Workspace::discover(&cwd, app)?)
}

fn load(target: &SvcTarget) -> Result<(Workspace, Service, Option<Addons>), Failure> {
    let ws = workspace(target.app.as_deref())?;
    let svc = ws.service(&target.name)?;
    let addons = svc.addons()?;
    Ok((ws, svc, addons))
}

/// `[--s3-prefix/]rest`.
fn key_prefix(bucket: &BucketArgs, rest: &str) -> String {
    match bucket.s3_prefix.as_deref().map(|p| p.trim_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/{rest}"),
        _ => rest.to_string(),
    }
}

fn tags(extra: Option<&std::collections::BTreeMap<String, String>>) -> Vec<(String, String)> {
    extra
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Validates and scans the addons' artifacts (paths relative to the workspace root).
async fn prepare(
    ws: &Workspace,
    svc: &Service,
    addons: &Addons,
    bucket: &BucketArgs,
    upload: &UploadArgs,
) -> Result<packager::Prepared, Failure> {
    let options = packager::Options {
        base: packager::Base::Root(ws.root().to_path_buf()),
        root: ws.root().to_path_buf(),
        confine: true,
        key_prefix: key_prefix(bucket, &format!("manual/addons/{}/assets", svc.name())),
        jobs: upload.jobs,
        json: false,
    };
    packager::prepare(addons.template().clone(), options)
        .await
        .map_err(|e| crate::report::locate_in_addons(e, addons))
}

/// Uploads the artifacts, then the packaged addons template; returns its text and URL.
async fn upload_addons(
    prepared: packager::Prepared,
    uploader: &upload::Uploader,
    bucket: &BucketArgs,
    svc: &str,
) -> Result<(String, String), Failure> {
    let progress = Progress::new("Uploading assets");
    let packaged = prepared.upload(uploader, &progress).await;
    progress.finish();
    let packaged = packaged?;
    crate::progress::summary(&packaged.uploads);
    let prefix = key_prefix(bucket, &format!("manual/addons/{svc}"));
    let (key, _) =
        packager::upload_template(uploader, &prefix, &packaged.text, Format::Yaml).await?;
    tracing::info!(key, "addons template uploaded");
    let url = uploader.https_url(&key);
    Ok((packaged.text, url))
}

/// The bucket from the flag or environment, else the output of the app's existing
/// `<app>-infrastructure` stack (`svc package` never creates it; `svc deploy` does). With the
/// stack's bucket comes the caller's account, to pin as the bucket owner (the bucket is the
/// caller's own); a bucket given by name is pinned only on `--expected-bucket-owner`.
async fn resolve_bucket(
    bucket: &BucketArgs,
    aws: &AwsArgs,
    app: &str,
) -> Result<(String, Option<String>), Failure> {
    if let Some(b) = &bucket.bucket {
        return Ok((b.clone(), None));
    }
    let deployer = Deployer::connect(aws.region.clone(), None).await?;
    let stack = deploy::infrastructure_stack_name(app);
    let outputs = deployer.outputs(&stack).await.map_err(|e| {
        Failure::Usage(format!(
            "no artifact bucket: pass --bucket, set COPILOT_LITE_BUCKET, or run `copilot-lite svc deploy` once to create stack {stack} ({e})"
        ))
    })?;
    let name = outputs
        .into_iter()
        .find(|(k, _)| k == deploy::BUCKET_OUTPUT)
        .map(|(_, v)| v)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "stack {stack} has no output {}",
                deploy::BUCKET_OUTPUT
            ))
        })?;
    Ok((name, Some(deployer.account_id().await?)))
}

/// `upload` with `owner` as the expected bucket owner, unless one was given explicitly.
fn pin_owner(upload: &UploadArgs, owner: Option<String>) -> UploadArgs {
    let mut upload = upload.clone();
    if upload.expected_bucket_owner.is_none() {
        upload.expected_bucket_owner = owner;
    }
    upload
}

/// `--diff`: the workload and addons templates against the deployed ones. Exit 0 when equal,
/// 1 when different (errors exit 2, see `main`).
async fn diff(
    deployer: &Deployer,
    stack: &str,
    workload: &str,
    prepared: &packager::Prepared,
    uploader: &upload::Uploader,
) -> Result<(), Failure> {
    let addons = prepared.render(uploader)?;
    let deployed_workload = deployer.get_template(stack).await?.unwrap_or_default();
    let deployed_addons = deployer.nested_template(stack, "AddonsStack").await?;
    let mut changed = print_diff(
        &format!("{stack} (workload stack)"),
        &deployed_workload,
        workload,
    );
    changed |= match deployed_addons {
        Some(deployed) => print_diff("AddonsStack", &deployed, &addons),
        None => print_diff("AddonsStack", "", &addons),
    };
    if changed {
        Err(Failure::DiffFound)
    } else {
        eprintln!("No differences with the deployed templates.");
        Ok(())
    }
}

fn print_diff(name: &str, old: &str, new: &str) -> bool {
    if old == new {
        return false;
    }
    let diff = similar::TextDiff::from_lines(old, new);
    print!(
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("deployed {name}"), &format!("local {name}"))
    );
    true
}
