//! `copilot-lite svc ...`: the Copilot workflow over a workspace.

use cfn_yaml::Format;
use copilot_model::names::ADDONS_STACK;
use copilot_model::{CopilotStack, DeployedStack, KeyLayout, NameKind, Ownership, Target};
use copilot_workspace::{Addons, Service, Workspace};
use deploy::{CancellationToken, Deployer, Outcome, StackRequest, Template};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::args::{
    AwsArgs, BucketArgs, CacheArgs, LsArgs, SvcDeleteArgs, SvcDeployArgs, SvcPackageArgs,
    SvcTarget, UploadArgs,
};
use crate::deploy_view::DeployView;
use crate::json::{self, DeployOutcome, Document, TemplateKind};
use crate::output::{self, FileId};
use crate::package::connect;
use crate::progress::Progress;
use crate::report::Failure;
use crate::swap;

pub async fn ls(args: LsArgs) -> Result<(), Failure> {
    let ws = workspace(args.app.as_deref())?;
    let services = ws.list_services()?;
    for svc in &services {
        check_service(svc)?;
    }
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
    let target = Target::new(ws.app(), &args.target.env, svc.name());
    let name = target.svc.clone();
    let keys = KeyLayout::new(args.bucket.s3_prefix.as_deref());
    let tags = tags(args.resource_tags.as_ref())?;
    let prepared = match &addons {
        Some(addons) => {
            Some(prepare(&ws, addons, keys.addon_assets(svc.name()), &args.upload).await?)
        }
        None => None,
    };
    let mut doc = args.output.json().then(|| Document::new("svc package"));
    // Where the results go, checked before anything is uploaded: every file to write can be
    // written, and none is one of the files read.
    let env = target.env.clone();
    if doc.is_some() {
        output::check_stdout()?;
    }
    let planned = match &args.output_dir {
        None => {
            if addons.is_some() {
                output::check_stdout()?;
            }
            None
        }
        Some(dir) => {
            let inputs = input_files(&ws, &svc, addons.as_ref(), prepared.as_ref());
            let plan = |file: String| output::Target::plan(&dir.join(file), &inputs);
            let stack = plan(format!("{name}-{env}.stack.yml"))?;
            let params = plan(format!("{name}-{env}.params.json"))?;
            let addons_file = match &addons {
                Some(_) => Some(plan(format!("{name}.addons.stack.yml"))?),
                None => None,
            };
            Some((dir, stack, params, addons_file))
        }
    };
    let mut addons_text = None;
    let mut addons_url = String::new();
    if let (Some(addons), Some(prepared)) = (&addons, prepared) {
        if args.upload_assets {
            let (bucket, owner) = resolve_bucket(&args.bucket, &args.aws, &target.app).await?;
            let upload_args = pin_owner(&args.upload, owner);
            let uploader = connect(&args.aws, &upload_args, &bucket).await?;
            let (url, packaged) =
                upload_addons(prepared, &uploader, &keys.addons_templates(&name)).await?;
            if let Some(doc) = &mut doc {
                doc.artifacts(&packaged.references, uploader.bucket(), Some(addons));
            }
            addons_text = Some(packaged.text);
            addons_url = url;
        } else {
            addons_text = Some(addons.text().to_string());
        }
    }
    // The addons template's URL, once uploaded.
    let uploaded_url = (!addons_url.is_empty()).then(|| addons_url.clone());
    match planned {
        None => match (addons_text, &mut doc) {
            (Some(text), Some(doc)) => {
                doc.template(TemplateKind::Addons, None, uploaded_url, Some(text))
            }
            (Some(text), None) => output::write_stdout(&text)?,
            (None, _) => eprintln!(
                "Service {name} has no addons ({}).",
                crate::report::escape(&svc.addons_dir().display().to_string())
            ),
        },
        Some((dir, stack_target, params_target, addons_target)) => {
            let stack = copilot_model::workload_template(addons.as_ref());
            let params = copilot_model::workload_params_json(&target, &addons_url, &tags);
            let mut written = vec![
                (TemplateKind::Workload, stack_target.shown().to_path_buf()),
                (
                    TemplateKind::Parameters,
                    params_target.shown().to_path_buf(),
                ),
            ];
            let mut writes = vec![
                (stack_target, stack.as_bytes()),
                (params_target, params.as_bytes()),
            ];
            if let (Some(t), Some(text)) = (addons_target, &addons_text) {
                written.push((TemplateKind::Addons, t.shown().to_path_buf()));
                writes.push((t, text.as_bytes()));
            }
            output::write_all(writes)?;
            eprintln!(
                "Wrote the templates of service {name} for environment {env} to {}.",
                crate::report::escape(&dir.display().to_string())
            );
            if let Some(doc) = &mut doc {
                for (kind, path) in written {
                    let url = match kind {
                        TemplateKind::Addons => uploaded_url.clone(),
                        _ => None,
                    };
                    doc.template(kind, Some(&path), url, None);
                }
            }
        }
    }
    match doc {
        Some(doc) => doc.write(),
        None => Ok(()),
    }
}

/// The files `svc package` reads (the workspace's and the artifacts'), which an output must
/// not overwrite.
fn input_files(
    ws: &Workspace,
    svc: &Service,
    addons: Option<&Addons>,
    prepared: Option<&packager::Prepared>,
) -> Vec<FileId> {
    let mut paths = vec![ws.workspace_file(), svc.manifest_path()];
    if let Some(addons) = addons {
        paths.extend(addons.files().iter().cloned());
        paths.extend(addons.parameters_file().map(std::path::Path::to_path_buf));
    }
    if let Some(prepared) = prepared {
        paths.extend(prepared.input_files().map(std::path::Path::to_path_buf));
    }
    paths.iter().filter_map(|p| FileId::of(p)).collect()
}

pub async fn deploy(args: SvcDeployArgs) -> Result<(), Failure> {
    if !args.output.json() {
        return deploy_round(&args, None).await.map(drop);
    }
    if args.how.diff {
        return Err(Failure::Usage(
            "--diff prints the differences as text: it cannot be combined with --output json"
                .into(),
        ));
    }
    // Checked before anything is uploaded or deployed.
    output::check_stdout()?;
    let mut doc = Document::new("svc deploy");
    deploy_round(&args, Some(&mut doc)).await?;
    doc.write()
}

/// How a [`deploy_round`] ended.
#[derive(Debug)]
pub(crate) enum Done {
    /// The service has no addons.
    NoAddons,
    /// Nothing differs from the deployed stack: no change set was made.
    NoChanges,
    /// Lambda code updated directly (`--hotswap`): the functions updated and those already
    /// running the code.
    Hotswapped {
        updated: Vec<String>,
        skipped: usize,
    },
    /// Deployed through a change set.
    Deployed(Outcome),
}

/// One `svc deploy`: validate, classify, then no change set when nothing differs, a hotswap
/// when asked and only Lambda code differs, else a change-set deploy. With `doc`, what it
/// uploaded and did is added there (and the stack is described once more after a deploy, for
/// its outputs).
pub(crate) async fn deploy_round(
    args: &SvcDeployArgs,
    mut doc: Option<&mut Document>,
) -> Result<Done, Failure> {
    let extra_tags = tags(args.resource_tags.as_ref())?;
    let (ws, svc, addons) = load(&args.target)?;
    let target = Target::new(ws.app(), &args.target.env, svc.name());
    let (name, env) = (target.svc.clone(), target.env.clone());
    let keys = KeyLayout::new(args.bucket.s3_prefix.as_deref());
    let Some(addons) = addons else {
        eprintln!(
            "Service {name} has no addons ({}): nothing to deploy.",
            svc.addons_dir().display()
        );
        if let Some(doc) = doc {
            doc.deploy(json::Deploy::of(
                &target.stack_name(),
                DeployOutcome::NoAddons,
                None,
            ));
        }
        return Ok(Done::NoAddons);
    };
    // Validate everything before the first AWS call.
    let prepared = prepare(&ws, &addons, keys.addon_assets(svc.name()), &args.upload).await?;
    let stack_name = target.stack_name();
    let deployer = crate::aws::deployer(&args.aws).await?;
    // Whose is the stack? Decided before anything is uploaded or changed.
    let (ownership, deployed) = ownership(&deployer, &target).await?;
    if let Ownership::Refused(refusal) = ownership {
        return Err(refusal.into());
    }
    if let (Ownership::Copilot(_), Some(_)) = (&ownership, &args.resource_tags) {
        return Err(Failure::Usage(format!(
            "stack {stack_name} was deployed by Copilot: its tags are Copilot's to set (tags in the manifest, `copilot svc deploy --resource-tags`); copilot-lite keeps them as they are, so --resource-tags cannot be used here"
        )));
    }
    let view = DeployView::new(&stack_name);
    let deploying = Deploying {
        app: &target.app,
        bucket: &args.bucket,
        upload: &args.upload,
        aws: &args.aws,
        diff: args.how.diff,
    };
    let uploader = deploy_uploader(&deployer, &deploying, &view).await?;

    if args.how.diff {
        return diff(
            &deployer, &target, &ownership, &addons, &prepared, &uploader, &keys,
        )
        .await
        .map(|()| Done::NoChanges);
    }

    // What would be deployed, known before anything is uploaded (keys are content hashes).
    let (addons_text, addons_url) =
        rendered_addons(&prepared, &uploader, &keys.addons_templates(&name))?;
    let (stack_text, mut request) = match &ownership {
        Ownership::Copilot(stack) => {
            let text = stack.with_addons(addons.parameters());
            let request = copilot_request(&target, stack, &text, &addons_url, &uploader, &keys);
            (text, request)
        }
        _ => {
            let text = copilot_model::workload_template(Some(&addons));
            let mut request = stack_request(&uploader, &keys, &stack_name, &text);
            request.parameters = target.own_stack_parameters(&addons_url);
            request.tags = target.own_stack_tags(&extra_tags);
            (text, request)
        }
    };
    request.disable_rollback = args.how.no_rollback;
    request.detach = args.how.detach;

    // Functions hotswapped since the last deploy: CloudFormation's template names other code
    // than they run, so the stack is never "unchanged" while this record exists.
    let record_key = keys.hotswap_record(&stack_name);
    let record = match &deployed {
        Some(_) => swap::read_record(&uploader, &record_key).await?,
        None => None,
    };
    if unchanged(
        deployed.as_ref(),
        &request,
        &stack_text,
        args.how.force,
        record.is_some(),
    ) {
        if let Some(doc) = doc {
            let described = deployed.as_ref().map(|d| &d.description);
            doc.deploy(json::Deploy::of(
                &stack_name,
                DeployOutcome::Unchanged,
                described,
            ));
        }
        return Ok(Done::NoChanges);
    }

    let swap_plan = if args.hotswap {
        match swap::plan(
            &deployer,
            &stack_name,
            deployed.as_ref(),
            &request,
            &stack_text,
            &addons_text,
            record.as_ref(),
        )
        .await?
        {
            Ok(plan) => Some(plan),
            Err(why) => {
                eprintln!("Hotswap not possible: {why}. Deploying through a change set.");
                None
            }
        }
    } else {
        None
    };

    let (uploaded_url, packaged) =
        upload_addons(prepared, &uploader, &keys.addons_templates(&name)).await?;
    debug_assert_eq!((&packaged.text, &uploaded_url), (&addons_text, &addons_url));
    if let Some(doc) = doc.as_deref_mut() {
        doc.artifacts(&packaged.references, uploader.bucket(), Some(&addons));
        doc.template(TemplateKind::Addons, None, Some(uploaded_url), None);
    }

    if let Some(plan) = swap_plan {
        let lambda = hotswap::Lambda::new(deployer.sdk_config());
        let swapped = swap::apply(&lambda, plan, &packaged.uploads, &uploader, &record_key).await?;
        if let Some(doc) = doc {
            let described = deployed.as_ref().map(|d| &d.description);
            let mut done = json::Deploy::of(&stack_name, DeployOutcome::Hotswapped, described);
            done.functions_updated = swapped.updated.clone();
            doc.deploy(done);
        }
        return Ok(Done::Hotswapped {
            updated: swapped.updated,
            skipped: swapped.skipped,
        });
    }

    packager::upload_template(
        &uploader,
        &keys.stack_templates(&stack_name),
        &stack_text,
        Format::Yaml,
        args.upload.force_upload,
    )
    .await?;
    if let (Some(doc), Template::Url(url)) = (doc.as_deref_mut(), &request.template) {
        doc.template(TemplateKind::Workload, None, Some(url.clone()), None);
    }
    let outcome = run_deploy(&deployer, &request, &view).await?;
    if let Some(record) = record {
        if outcome == Outcome::Detached {
            eprintln!(
                "Functions hotswapped earlier are checked by the next deploy (this one was not waited for)."
            );
        } else {
            let lambda = hotswap::Lambda::new(deployer.sdk_config());
            swap::restore(
                &lambda,
                &deployer,
                &stack_name,
                &record,
                &addons_text,
                &uploader,
                &record_key,
            )
            .await?;
        }
    }
    let copilot = matches!(ownership, Ownership::Copilot(_));
    match outcome {
        Outcome::NoChanges => eprintln!("No changes to deploy: stack {stack_name} is up to date."),
        Outcome::Created | Outcome::Updated if copilot => eprintln!(
            "Deployed the addons of service {name} to environment {env} (Copilot's stack {stack_name}: only its AddonsStack changed)."
        ),
        Outcome::Created | Outcome::Updated => {
            eprintln!("Deployed service {name} to environment {env} (stack {stack_name}).")
        }
        Outcome::Detached => {
            eprintln!("Deployment of stack {stack_name} started; not waiting (--detach).")
        }
    }
    if let Some(doc) = doc {
        let outcome_json = match outcome {
            Outcome::Created => DeployOutcome::Created,
            Outcome::Updated => DeployOutcome::Updated,
            Outcome::NoChanges => DeployOutcome::Unchanged,
            Outcome::Detached => DeployOutcome::Started,
        };
        // The stack as it is now: its ARN, and the outputs the deployment gave it.
        let described = deployer.stack(&stack_name).await?;
        let mut done = json::Deploy::of(&stack_name, outcome_json, described.as_ref());
        done.change_set = view.executed_change_set();
        doc.deploy(done);
    }
    Ok(Done::Deployed(outcome))
}

pub async fn delete(args: SvcDeleteArgs) -> Result<(), Failure> {
    check_target_flags(&args.target)?;
    let ws = workspace(args.target.app.as_deref())?;
    let target = Target::new(ws.app(), &args.target.env, &args.target.name);
    let stack_name = target.stack_name();
    let deployer = crate::aws::deployer(&args.aws).await?;
    let (ownership, _) = ownership(&deployer, &target).await?;
    let view = DeployView::new(&stack_name);
    match ownership {
        Ownership::Refused(refusal) => Err(refusal.into()),
        Ownership::Absent => {
            eprintln!("No stack {stack_name}: nothing to delete.");
            Ok(())
        }
        Ownership::Copilot(stack) if args.addons_only => {
            // The template as deployed, with an empty AddonsTemplateURL: HasAddons is false and
            // CloudFormation removes AddonsStack alone (the guard checks that it does).
            let uploader = addons_only_uploader(&deployer, &target.app, &args.aws, &view).await?;
            let keys = KeyLayout::default();
            let request =
                request_with_template(&uploader, &keys, &stack_name, stack.template()).await?;
            let request = StackRequest {
                template: request.template,
                ..copilot_request(&target, &stack, stack.template(), "", &uploader, &keys)
            };
            let result = deployer.deploy(&request, &view).await;
            view.finish();
            match result? {
                Outcome::NoChanges => {
                    eprintln!("Stack {stack_name} has no addons: nothing to remove.")
                }
                _ => eprintln!(
                    "Removed the addons of service {} from Copilot's stack {stack_name}; the rest of the stack is unchanged.",
                    target.svc
                ),
            }
            Ok(())
        }
        Ownership::Copilot(_) => Err(Failure::Usage(format!(
            "stack {stack_name} was deployed by Copilot: copilot-lite does not delete it (`copilot svc delete --name {} --env {}` removes a Copilot service); `copilot-lite svc delete --addons-only` removes just its addons",
            target.svc, target.env
        ))),
        Ownership::Own if args.addons_only => Err(Failure::Usage(format!(
            "stack {stack_name} is copilot-lite's own and holds nothing but the addons: `copilot-lite svc delete` without --addons-only deletes it"
        ))),
        Ownership::Own => {
            let result = deployer.delete_stack(&stack_name, &view).await;
            view.finish();
            result?;
            eprintln!("Deleted stack {stack_name} (uploaded assets are kept).");
            Ok(())
        }
    }
}

/// Deploys `request` with the progress view; the first Ctrl-C cancels the deployment safely
/// (see [`cancel_on_ctrl_c`]).
pub(crate) async fn run_deploy(
    deployer: &Deployer,
    request: &StackRequest,
    view: &DeployView,
) -> Result<Outcome, deploy::DeployError> {
    let cancel = CancellationToken::new();
    DEPLOYING.store(true, Ordering::SeqCst);
    let watcher = tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
    let outcome = deployer.deploy_with_cancel(request, view, &cancel).await;
    watcher.abort();
    DEPLOYING.store(false, Ordering::SeqCst);
    view.finish();
    outcome
}

/// Whether deploying `request` (its template `text`) would change nothing in the `deployed`
/// stack, so that no change set is made (said so); `force` deploys anyway, and so does a
/// stack with functions hotswapped since its last deploy (`hotswapped`).
pub(crate) fn unchanged(
    deployed: Option<&ReadStack>,
    request: &StackRequest,
    text: &str,
    force: bool,
    hotswapped: bool,
) -> bool {
    let Some(read) = deployed else {
        return false;
    };
    let stack_name = &request.stack_name;
    let change = deploy::what_changes(
        request,
        text,
        &read.description,
        read.stack.template.as_deref(),
    );
    match change {
        None if force => eprintln!(
            "Nothing differs from the deployed stack {stack_name}; deploying anyway (--force)."
        ),
        None if !hotswapped => {
            eprintln!(
                "No changes: stack {stack_name} is up to date (its template, parameters and tags are the deployed ones; no change set made)."
            );
            return true;
        }
        None => eprintln!(
            "Stack {stack_name} is as deployed, but functions were hotswapped since: deploying to put back the code its template names."
        ),
        Some(why) => tracing::info!(stack = %stack_name, %why, "the stack changes"),
    }
    false
}

/// A deployed stack as read once: what the ownership rules look at, and CloudFormation's
/// description (parameter values, capabilities) for the no-change check.
pub(crate) struct ReadStack {
    pub(crate) stack: DeployedStack,
    pub(crate) description: deploy::StackDescription,
}

/// What CloudFormation says of the stack `name`, for the ownership rules (nothing is changed).
pub(crate) async fn deployed_stack(
    deployer: &Deployer,
    name: &str,
) -> Result<Option<ReadStack>, Failure> {
    let Some(description) = deployer.stack(name).await? else {
        return Ok(None);
    };
    let template = deployer.get_template(&description.id).await?;
    Ok(Some(ReadStack {
        stack: DeployedStack {
            status: description.status.clone(),
            tags: description.tags.clone(),
            parameters: description
                .parameters
                .iter()
                .map(|(k, _)| k.clone())
                .collect(),
            template,
        },
        description,
    }))
}

/// Reads the stack of `target`'s name and decides whose it is (nothing is changed).
async fn ownership(
    deployer: &Deployer,
    target: &Target,
) -> Result<(Ownership, Option<ReadStack>), Failure> {
    let stack_name = target.stack_name();
    let deployed = deployed_stack(deployer, &stack_name).await?;
    let ownership = copilot_model::classify(target, deployed.as_ref().map(|d| &d.stack));
    let whose = match &ownership {
        Ownership::Absent => "absent",
        Ownership::Own => "copilot-lite's",
        Ownership::Copilot(_) => "Copilot's",
        Ownership::Refused(_) => "refused",
    };
    tracing::info!(stack = %stack_name, whose, "stack classified");
    Ok((ownership, deployed))
}

/// The change set request for Copilot's stack: `template` (by URL, under
/// [`KeyLayout::stack_templates`]: Copilot's templates are too large for a body; upload it
/// before deploying), `AddonsTemplateURL` = `addons_url`, every other parameter kept, the
/// tags as they are, and the guard: only `AddonsStack` may change.
fn copilot_request(
    target: &Target,
    stack: &CopilotStack,
    template: &str,
    addons_url: &str,
    uploader: &upload::Uploader,
    keys: &KeyLayout,
) -> StackRequest {
    let stack_name = target.stack_name();
    let mut request = stack_request(uploader, keys, &stack_name, template);
    request.parameters = vec![(
        copilot_model::names::PARAM_ADDONS_URL.to_owned(),
        addons_url.to_owned(),
    )];
    request.previous_parameters = stack.kept_parameters();
    request.tags = stack.tags().to_vec();
    request.allowed_changes = Some(CopilotStack::allowed_changes());
    request.recreate = false;
    request
}

/// A request for stack `stack_name` with `template`, uploaded first under
/// `manual/templates/<stack>/` (templates go by URL: Copilot's are too large for a body).
pub(crate) async fn request_with_template(
    uploader: &upload::Uploader,
    keys: &KeyLayout,
    stack_name: &str,
    template: &str,
) -> Result<StackRequest, Failure> {
    packager::upload_template(
        uploader,
        &keys.stack_templates(stack_name),
        template,
        Format::Yaml,
        false,
    )
    .await?;
    Ok(stack_request(uploader, keys, stack_name, template))
}

/// A request for stack `stack_name` with `template` by the URL it has once uploaded under
/// `manual/templates/<stack>/` (content-addressed: known before the upload).
pub(crate) fn stack_request(
    uploader: &upload::Uploader,
    keys: &KeyLayout,
    stack_name: &str,
    template: &str,
) -> StackRequest {
    let key = packager::template_key(&keys.stack_templates(stack_name), template, Format::Yaml);
    StackRequest::new(stack_name, Template::Url(uploader.https_url(&key)))
}

/// `svc delete --addons-only` uploads the deployed template (a change set needs it by URL):
/// to the application's bucket, never creating one.
pub(crate) async fn addons_only_uploader(
    deployer: &Deployer,
    app: &str,
    aws: &AwsArgs,
    view: &DeployView,
) -> Result<upload::Uploader, Failure> {
    let found = app_bucket(deployer, app, BucketMode::LookUp, view).await?;
    let up = UploadArgs {
        force_upload: false,
        sse: None,
        kms_key_id: None,
        metadata: None,
        expected_bucket_owner: Some(found.account),
        jobs: 1,
        cache: CacheArgs::default(),
    };
    connect(aws, &up, &found.name).await
}
/// Set while a stack operation runs, during which Ctrl-C cancels it ([`cancel_on_ctrl_c`])
/// rather than stopping the run.
static DEPLOYING: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C is handled by a running deployment (see `main`'s signal handling).
pub fn handles_ctrl_c() -> bool {
    DEPLOYING.load(Ordering::SeqCst)
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

/// The workspace, its application name checked by Copilot's rule: `app` (the `-a/--app`
/// flag) when given, else the name read from `copilot/.workspace`.
pub(crate) fn workspace(app: Option<&str>) -> Result<Workspace, Failure> {
    if let Some(app) = app {
        check_name(|| "-a/--app".into(), NameKind::Application, app)?;
    }
    let cwd = std::env::current_dir().map_err(|e| Failure::io("reading the current folder", e))?;
    let ws = Workspace::discover(&cwd, app)?;
    if app.is_none() {
        check_name(
            || format!("{} (field \"application\")", ws.workspace_file().display()),
            NameKind::Application,
            ws.app(),
        )?;
    }
    Ok(ws)
}

/// `-n/--name` and `-e/--env` by Copilot's rule, before they reach a path, key or stack name
/// (`-a/--app` is checked by [`workspace`]).
fn check_target_flags(target: &SvcTarget) -> Result<(), Failure> {
    check_name(|| "-n/--name".into(), NameKind::Service, &target.name)?;
    check_name(|| "-e/--env".into(), NameKind::Environment, &target.env)
}

pub(crate) fn check_name(
    what: impl FnOnce() -> String,
    kind: NameKind,
    value: &str,
) -> Result<(), Failure> {
    copilot_model::validate_name(kind, value).map_err(|source| Failure::Name {
        what: what(),
        source,
    })
}

/// A service's folder name by Copilot's rule for its type.
fn check_service(svc: &Service) -> Result<(), Failure> {
    copilot_model::validate_service_name(svc.name(), svc.service_type()).map_err(|source| {
        Failure::Name {
            what: format!("service folder {}", svc.dir().display()),
            source,
        }
    })
}

/// The workspace root of `target`'s service, with its names checked as a deploy checks them
/// (not its addons: a watch starts on broken addons and waits for the fix).
pub(crate) fn service_root(target: &SvcTarget) -> Result<std::path::PathBuf, Failure> {
    check_target_flags(target)?;
    let ws = workspace(target.app.as_deref())?;
    check_service(&ws.service(&target.name)?)?;
    Ok(ws.root().to_path_buf())
}

/// What `svc watch` looks at for `target`: the service's manifest and addons folder, and the
/// templates and artifacts the addons name. While the addons are invalid, the manifest and the
/// addons folder alone, with the error (so that the fix is seen).
pub(crate) async fn watched_paths(
    target: &SvcTarget,
    upload: &UploadArgs,
) -> Result<crate::watch::Watched, (crate::watch::Watched, Failure)> {
    let mut watched = crate::watch::Watched::default();
    let service = check_target_flags(target)
        .and_then(|()| workspace(target.app.as_deref()))
        .and_then(|ws| Ok((ws.service(&target.name)?, ws)));
    let (svc, ws) = service.map_err(|e| (crate::watch::Watched::default(), e))?;
    watched.files.push(svc.manifest_path());
    // The workspace's ignore file, also before it exists (its folder is watched).
    watched.files.push(ws.root().join(packager::IGNORE_FILE));
    watched.dirs.push(svc.addons_dir());
    let sources = async {
        check_service(&svc)?;
        let mut sources = Vec::new();
        if let Some(addons) = svc.addons()? {
            let keys = KeyLayout::default();
            let prepared = prepare(&ws, &addons, keys.addon_assets(svc.name()), upload).await?;
            sources.extend(prepared.sources().map(std::path::Path::to_path_buf));
        }
        Ok::<_, Failure>(sources)
    };
    let result = sources.await;
    if let Ok(sources) = &result {
        for path in sources {
            if path.is_dir() {
                watched.dirs.push(path.clone());
            } else {
                watched.files.push(path.clone());
            }
        }
    }
    watched.dirs.sort();
    watched.dirs.dedup();
    watched.files.sort();
    watched.files.dedup();
    match result {
        Ok(_) => Ok(watched),
        Err(e) => Err((watched, e)),
    }
}

fn load(target: &SvcTarget) -> Result<(Workspace, Service, Option<Addons>), Failure> {
    check_target_flags(target)?;
    let ws = workspace(target.app.as_deref())?;
    let svc = ws.service(&target.name)?;
    check_service(&svc)?;
    let addons = svc.addons()?;
    Ok((ws, svc, addons))
}

/// The extra tags of `--resource-tags`, refused before anything happens when one is reserved.
fn tags(
    extra: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>, Failure> {
    let tags: Vec<(String, String)> = extra
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    copilot_model::check_extra_tags(&tags)
        .map_err(|e| Failure::Usage(format!("--resource-tags: {e}")))?;
    Ok(tags)
}

/// Validates and scans the addons' artifacts (paths relative to the workspace root).
pub(crate) async fn prepare(
    ws: &Workspace,
    addons: &Addons,
    key_prefix: String,
    upload: &UploadArgs,
) -> Result<packager::Prepared, Failure> {
    let options = packager::Options {
        base: packager::Base::Root(ws.root().to_path_buf()),
        root: ws.root().to_path_buf(),
        confine: true,
        key_prefix,
        jobs: upload.jobs,
        json: false,
        force: upload.force_upload,
        ignore_file: Some(ws.root().join(packager::IGNORE_FILE)),
        cache: crate::package::cache(&upload.cache),
    };
    packager::prepare(addons.template().clone(), options)
        .await
        .map_err(|e| Failure::Package(e.relocate(|at| addons.relocate(at))))
}

/// The packaged addons template and the URL [`upload_addons`] will give it, without uploading
/// anything (keys are content hashes).
pub(crate) fn rendered_addons(
    prepared: &packager::Prepared,
    uploader: &upload::Uploader,
    templates_folder: &str,
) -> Result<(String, String), Failure> {
    let text = prepared.render(uploader)?;
    let key = packager::template_key(templates_folder, &text, Format::Yaml);
    let url = uploader.https_url(&key);
    Ok((text, url))
}

/// Uploads the artifacts, then the packaged addons template; returns its URL and the
/// packaged addons (their text, what happened to each artifact).
pub(crate) async fn upload_addons(
    prepared: packager::Prepared,
    uploader: &upload::Uploader,
    templates_folder: &str,
) -> Result<(String, packager::Packaged), Failure> {
    let force = prepared.force();
    let progress = Progress::new("Uploading assets", uploader);
    let packaged = prepared.upload(uploader, &progress).await;
    progress.finish();
    let packaged = packaged?;
    crate::progress::summary(&packaged.uploads);
    let (key, _) = packager::upload_template(
        uploader,
        templates_folder,
        &packaged.text,
        Format::Yaml,
        force,
    )
    .await?;
    tracing::info!(key, "addons template uploaded");
    let url = uploader.https_url(&key);
    Ok((url, packaged))
}

/// The bucket from the flag or environment, else the application's ([`app_bucket`], never
/// created here: `svc package` uploads to an existing bucket). With the application's bucket
/// comes the caller's account, to pin as the bucket owner (the bucket is the caller's own); a
/// bucket given by name is pinned only on `--expected-bucket-owner`.
pub(crate) async fn resolve_bucket(
    bucket: &BucketArgs,
    aws: &AwsArgs,
    app: &str,
) -> Result<(String, Option<String>), Failure> {
    if let Some(b) = &bucket.bucket {
        return Ok((b.clone(), None));
    }
    let deployer = crate::aws::deployer(aws).await?;
    let found = app_bucket(&deployer, app, BucketMode::LookUp, &()).await?;
    Ok((found.name, Some(found.account)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BucketMode {
    /// Find the bucket; none is an error.
    LookUp,
    /// Find the bucket, else create copilot-lite's bucket stack.
    Create,
    /// Find the bucket, else name the one [`BucketMode::Create`] would create (`--diff`).
    Preview,
}

pub(crate) struct AppBucket {
    pub(crate) name: String,
    /// The caller's account, which owns the bucket.
    pub(crate) account: String,
}

/// The application's artifact bucket in this region: Copilot's (the output `PipelineBucket` of
/// the application stack set's instance here), so that both tools share
/// `manual/addons/<svc>/assets/`; else the output of copilot-lite's own `<app>-infrastructure`
/// stack, created first with [`BucketMode::Create`].
pub(crate) async fn app_bucket(
    deployer: &Deployer,
    app: &str,
    mode: BucketMode,
    observer: &dyn deploy::DeployObserver,
) -> Result<AppBucket, Failure> {
    let account = deployer.account_id().await?;
    let stack_set = copilot_model::copilot_stack_set_name(app);
    if let Some(outputs) = deployer
        .stack_set_instance_outputs(&stack_set, &account)
        .await?
        && let Some((_, name)) = outputs
            .into_iter()
            .find(|(k, _)| k == copilot_model::COPILOT_BUCKET_OUTPUT)
    {
        tracing::info!(bucket = %name, %stack_set, "Copilot's artifact bucket");
        return Ok(AppBucket { name, account });
    }
    let stack = copilot_model::infrastructure_stack_name(app);
    let name = copilot_model::bucket_name(app, &account, deployer.region());
    let mut request = StackRequest::new(
        &stack,
        Template::Body(copilot_model::bucket_template(app, &name)),
    );
    request.tags = copilot_model::bucket_stack_tags(app);
    let name = match mode {
        BucketMode::Create => {
            deployer
                .ensure_stack_output(&request, copilot_model::BUCKET_OUTPUT, observer)
                .await?
        }
        BucketMode::Preview | BucketMode::LookUp => deployer
            .stack(&stack)
            .await?
            .and_then(|s| {
                s.outputs
                    .into_iter()
                    .find(|(k, _)| k == copilot_model::BUCKET_OUTPUT)
            })
            .map(|(_, v)| v)
            .or_else(|| (mode == BucketMode::Preview).then(|| name.clone()))
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "no artifact bucket for application {app} in account {account}, region {}: neither Copilot's (stack set {stack_set}) nor copilot-lite's (stack {stack}); check that these are the application's account and region (credentials, --region), else pass --bucket, set COPILOT_LITE_BUCKET, or run `copilot-lite svc deploy` once",
                    deployer.region()
                ))
            })?,
    };
    Ok(AppBucket { name, account })
}

/// What a deploy uploads with: the application, the bucket and upload flags, and whether it
/// is a `--diff` (which never creates the bucket).
pub(crate) struct Deploying<'a> {
    pub(crate) app: &'a str,
    pub(crate) bucket: &'a BucketArgs,
    pub(crate) upload: &'a UploadArgs,
    pub(crate) aws: &'a AwsArgs,
    pub(crate) diff: bool,
}

/// The uploader of a deploy: to `--bucket`, else the application's artifact bucket (created
/// when missing, except for `--diff`). The artifact bucket is the caller's own (Copilot's
/// model): every S3 request carries the account as ExpectedBucketOwner, so a bucket name taken
/// over by another account is refused.
pub(crate) async fn deploy_uploader(
    deployer: &Deployer,
    d: &Deploying<'_>,
    view: &DeployView,
) -> Result<upload::Uploader, Failure> {
    let mode = if d.diff {
        BucketMode::Preview
    } else {
        BucketMode::Create
    };
    let (bucket, owner) = match &d.bucket.bucket {
        Some(b) => (b.clone(), None),
        None => {
            let found = app_bucket(deployer, d.app, mode, view).await?;
            (found.name, Some(found.account))
        }
    };
    let owner = match (&d.upload.expected_bucket_owner, owner) {
        (Some(_), _) => None,
        (None, Some(account)) => Some(account),
        (None, None) => Some(deployer.account_id().await?),
    };
    let upload_args = pin_owner(d.upload, owner);
    connect(d.aws, &upload_args, &bucket).await
}

/// `upload` with `owner` as the expected bucket owner, unless one was given explicitly.
pub(crate) fn pin_owner(upload: &UploadArgs, owner: Option<String>) -> UploadArgs {
    let mut upload = upload.clone();
    if upload.expected_bucket_owner.is_none() {
        upload.expected_bucket_owner = owner;
    }
    upload
}

/// `--diff`: what the deploy would change, against the deployed stack. Creates, uploads and
/// changes nothing. For copilot-lite's own stack (or none): the workload template and the
/// addons template; for Copilot's: the `AddonsTemplateURL` parameter, the `AddonsStack`
/// parameters (the only edit of its template) and the addons template. Exit 0 when equal, 1
/// when different (errors exit 2, see `main`).
async fn diff(
    deployer: &Deployer,
    target: &Target,
    ownership: &Ownership,
    addons: &Addons,
    prepared: &packager::Prepared,
    uploader: &upload::Uploader,
    keys: &KeyLayout,
) -> Result<(), Failure> {
    let stack = target.stack_name();
    let (packaged, url) = rendered_addons(prepared, uploader, &keys.addons_templates(&target.svc))?;
    let deployed_addons = match ownership {
        Ownership::Absent => None,
        _ => deployer.nested_template(&stack, ADDONS_STACK).await?,
    };
    let mut changed = false;
    match ownership {
        Ownership::Copilot(copilot) => {
            let described = deployer.stack(&stack).await?;
            let old_url = described
                .as_ref()
                .and_then(|s| {
                    s.parameters
                        .iter()
                        .find(|(k, _)| k == copilot_model::names::PARAM_ADDONS_URL)
                })
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if old_url != url {
                changed = true;
                println!(
                    "parameter {} of stack {stack} (Copilot's):\n- {old_url}\n+ {url}",
                    copilot_model::names::PARAM_ADDONS_URL
                );
            }
            changed |= print_diff(
                &format!("{stack} (Copilot's; only AddonsStack's parameters may change)"),
                copilot.template(),
                &copilot.with_addons(addons.parameters()),
            );
        }
        _ => {
            let deployed_workload = match ownership {
                Ownership::Absent => String::new(),
                _ => deployer.get_template(&stack).await?.unwrap_or_default(),
            };
            let workload = copilot_model::workload_template(Some(addons));
            changed |= print_diff(
                &format!("{stack} (workload stack)"),
                &deployed_workload,
                &workload,
            );
        }
    }
    changed |= print_diff(
        ADDONS_STACK,
        deployed_addons.as_deref().unwrap_or_default(),
        &packaged,
    );
    if changed {
        Err(Failure::DiffFound)
    } else {
        eprintln!("No differences with the deployed stack {stack}.");
        Ok(())
    }
}

pub(crate) fn print_diff(name: &str, old: &str, new: &str) -> bool {
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
