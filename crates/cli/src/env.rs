//! `copilot-lite env ...`: the environments' addons (`copilot/environments/addons/`), which
//! Copilot deploys into every environment stack `<app>-<env>`.

use cfn_yaml::Format;
use copilot_model::names::ADDONS_STACK;
use copilot_model::{CopilotEnvStack, EnvOwnership, EnvTarget, KeyLayout, NameKind};
use copilot_workspace::{Addons, Workspace};
use deploy::{Deployer, Outcome, StackRequest};

use crate::args::{EnvDeleteArgs, EnvDeployArgs, EnvPackageArgs, EnvTargetArgs, LsArgs};
use crate::deploy_view::DeployView;
use crate::output::{self, FileId};
use crate::package::connect;
use crate::report::{Failure, escape};
use crate::svc::{
    Deploying, ReadStack, addons_only_uploader, check_name, deploy_uploader, deployed_stack,
    pin_owner, prepare, print_diff, rendered_addons, resolve_bucket, run_deploy, stack_request,
    unchanged, upload_addons, workspace,
};

pub async fn ls(args: LsArgs) -> Result<(), Failure> {
    let ws = workspace(args.app.as_deref())?;
    let environments = ws.list_environments()?;
    println!("NAME");
    for env in &environments {
        println!("{}", escape(env));
    }
    let dir = ws.env_addons_dir();
    let shown = escape(&dir.display().to_string()).into_owned();
    match ws.env_addons() {
        Ok(Some(a)) => eprintln!(
            "Environment addons: {} template(s) in {shown}, for every environment.",
            a.files().len()
        ),
        Ok(None) => eprintln!("No environment addons ({shown})."),
        Err(e) => eprintln!("Environment addons in {shown}: invalid ({e})."),
    }
    Ok(())
}

/// The workspace, the environment (its name checked by Copilot's rule) and the environments'
/// addons (`None` too when they leave this environment out: `ExcludedEnvironments`).
fn load(target: &EnvTargetArgs) -> Result<(Workspace, EnvTarget, Option<Addons>), Failure> {
    check_name(|| "-n/--name".into(), NameKind::Environment, &target.name)?;
    let ws = workspace(target.app.as_deref())?;
    let env = EnvTarget::new(ws.app(), &target.name);
    let addons = ws.env_addons()?;
    if let Some(a) = addons.as_ref().filter(|a| a.excludes(&env.env)) {
        eprintln!(
            "Environment {} is left out of the environment addons ({} in {}).",
            env.env,
            copilot_workspace::EXCLUDED_ENVIRONMENTS,
            escape(&a.parameters_file().unwrap_or(a.dir()).display().to_string())
        );
        return Ok((ws, env, None));
    }
    Ok((ws, env, addons))
}

pub async fn package(args: EnvPackageArgs) -> Result<(), Failure> {
    let (ws, target, addons) = load(&args.target)?;
    let Some(addons) = addons else {
        eprintln!(
            "The environments have no addons ({}).",
            escape(&ws.env_addons_dir().display().to_string())
        );
        return Ok(());
    };
    let keys = KeyLayout::new(args.bucket.s3_prefix.as_deref());
    let prepared = prepare(&ws, &addons, keys.env_addon_assets(), &args.upload).await?;
    // Where the results go, checked before anything is uploaded.
    let env = &target.env;
    let planned = match &args.output_dir {
        None => {
            output::check_stdout()?;
            None
        }
        Some(dir) => {
            let mut inputs = vec![ws.workspace_file()];
            inputs.extend(addons.files().iter().cloned());
            inputs.extend(addons.parameters_file().map(std::path::Path::to_path_buf));
            inputs.extend(prepared.input_files().map(std::path::Path::to_path_buf));
            let inputs: Vec<FileId> = inputs.iter().filter_map(|p| FileId::of(p)).collect();
            let plan = |file: String| output::Target::plan(&dir.join(file), &inputs);
            // Copilot's names (`copilot env package --output-dir`).
            let stack = plan(format!("{env}.env.yml"))?;
            let params = plan(format!("{env}.env.params.json"))?;
            let addons_file = plan("env.addons.yml".to_owned())?;
            Some((dir, stack, params, addons_file))
        }
    };
    let (text, url) = if args.upload_assets {
        let (bucket, owner) = resolve_bucket(&args.bucket, &args.aws, &target.app).await?;
        let upload_args = pin_owner(&args.upload, owner);
        let uploader = connect(&args.aws, &upload_args, &bucket).await?;
        let (url, packaged) =
            upload_addons(prepared, &uploader, &keys.env_addons_templates()).await?;
        (packaged.text, url)
    } else {
        (addons.text().to_owned(), String::new())
    };
    match planned {
        None => output::write_stdout(&text)?,
        Some((dir, stack_target, params_target, addons_target)) => {
            let stack = copilot_model::environment_template(Some(&addons));
            let params = copilot_model::environment_params_json(&target, &url, &[]);
            output::write_all(vec![
                (stack_target, stack.as_bytes()),
                (params_target, params.as_bytes()),
                (addons_target, text.as_bytes()),
            ])?;
            eprintln!(
                "Wrote the templates of environment {env} to {}.",
                escape(&dir.display().to_string())
            );
        }
    }
    Ok(())
}

/// Reads the environment stack and decides whose it is (nothing is changed).
async fn ownership(
    deployer: &Deployer,
    target: &EnvTarget,
) -> Result<(EnvOwnership, Option<ReadStack>), Failure> {
    let stack_name = target.stack_name();
    let deployed = deployed_stack(deployer, &stack_name).await?;
    let ownership = copilot_model::classify_env(target, deployed.as_ref().map(|d| &d.stack));
    let whose = match &ownership {
        EnvOwnership::Absent => "absent",
        EnvOwnership::Own => "copilot-lite's",
        EnvOwnership::Copilot(_) => "Copilot's",
        EnvOwnership::Refused(_) => "refused",
    };
    tracing::info!(stack = %stack_name, whose, "environment stack classified");
    Ok((ownership, deployed))
}

/// The change set request for Copilot's environment stack: `template` (its `AddonsStack`
/// edited; by URL, under `manual/templates/<stack>/`: Copilot's templates are too large for a
/// body; upload it before deploying), every parameter `UsePreviousValue`, the tags as they
/// are, and the guard: only `AddonsStack` may change.
fn copilot_request(
    stack_name: &str,
    stack: &CopilotEnvStack,
    template: &str,
    uploader: &upload::Uploader,
    keys: &KeyLayout,
) -> StackRequest {
    let mut request = stack_request(uploader, keys, stack_name, template);
    request.previous_parameters = stack.kept_parameters();
    request.tags = stack.tags().to_vec();
    request.allowed_changes = Some(CopilotEnvStack::allowed_changes());
    request.recreate = false;
    request
}

pub async fn deploy(args: EnvDeployArgs) -> Result<(), Failure> {
    let (ws, target, addons) = load(&args.target)?;
    let stack_name = target.stack_name();
    let Some(addons) = addons else {
        eprintln!(
            "The environments have no addons ({}): nothing to deploy (`copilot-lite env delete --addons-only` removes deployed ones).",
            escape(&ws.env_addons_dir().display().to_string())
        );
        return Ok(());
    };
    let keys = KeyLayout::new(args.bucket.s3_prefix.as_deref());
    // Validate everything before the first AWS call.
    let prepared = prepare(&ws, &addons, keys.env_addon_assets(), &args.upload).await?;
    let deployer = crate::aws::deployer(&args.aws).await?;
    // Whose is the stack? Decided before anything is uploaded or changed.
    let (ownership, deployed) = ownership(&deployer, &target).await?;
    if let EnvOwnership::Refused(refusal) = ownership {
        return Err(refusal.into());
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
            &deployer,
            &stack_name,
            &ownership,
            &addons,
            &prepared,
            &uploader,
            &keys,
        )
        .await;
    }
    // What would be deployed, known before anything is uploaded (keys are content hashes).
    let (_, addons_url) = rendered_addons(&prepared, &uploader, &keys.env_addons_templates())?;
    let (stack_text, mut request) = match &ownership {
        EnvOwnership::Copilot(stack) => {
            let text = stack.with_addons(Some((&addons_url, addons.parameters())));
            let request = copilot_request(&stack_name, stack, &text, &uploader, &keys);
            (text, request)
        }
        _ => {
            let text = copilot_model::environment_template(Some(&addons));
            let mut request = stack_request(&uploader, &keys, &stack_name, &text);
            request.parameters = target.own_stack_parameters(&addons_url);
            request.tags = target.own_stack_tags(&[]);
            (text, request)
        }
    };
    request.disable_rollback = args.how.no_rollback;
    request.detach = args.how.detach;
    if unchanged(
        deployed.as_ref(),
        &request,
        &stack_text,
        args.how.force,
        false,
    ) {
        return Ok(());
    }
    upload_addons(prepared, &uploader, &keys.env_addons_templates()).await?;
    packager::upload_template(
        &uploader,
        &keys.stack_templates(&stack_name),
        &stack_text,
        Format::Yaml,
        args.upload.force_upload,
    )
    .await?;
    let outcome = run_deploy(&deployer, &request, &view).await;
    let env = &target.env;
    match outcome? {
        Outcome::NoChanges => eprintln!("No changes to deploy: stack {stack_name} is up to date."),
        Outcome::Created | Outcome::Updated if matches!(ownership, EnvOwnership::Copilot(_)) => {
            eprintln!(
                "Deployed the environment addons to environment {env} (Copilot's stack {stack_name}: only its AddonsStack changed)."
            )
        }
        Outcome::Created | Outcome::Updated => {
            eprintln!("Deployed the environment addons to environment {env} (stack {stack_name}).")
        }
        Outcome::Detached => {
            eprintln!("Deployment of stack {stack_name} started; not waiting (--detach).")
        }
    }
    Ok(())
}

pub async fn delete(args: EnvDeleteArgs) -> Result<(), Failure> {
    check_name(
        || "-n/--name".into(),
        NameKind::Environment,
        &args.target.name,
    )?;
    let ws = workspace(args.target.app.as_deref())?;
    let target = EnvTarget::new(ws.app(), &args.target.name);
    let stack_name = target.stack_name();
    let deployer = crate::aws::deployer(&args.aws).await?;
    let (ownership, _) = ownership(&deployer, &target).await?;
    let view = DeployView::new(&stack_name);
    match ownership {
        EnvOwnership::Refused(refusal) => Err(refusal.into()),
        EnvOwnership::Absent => {
            eprintln!("No stack {stack_name}: nothing to delete.");
            Ok(())
        }
        EnvOwnership::Copilot(stack) if args.addons_only => {
            if !stack.has_addons() {
                eprintln!("Stack {stack_name} has no addons: nothing to remove.");
                return Ok(());
            }
            let uploader = addons_only_uploader(&deployer, &target.app, &args.aws, &view).await?;
            let keys = KeyLayout::default();
            let template = stack.with_addons(None);
            packager::upload_template(
                &uploader,
                &keys.stack_templates(&stack_name),
                &template,
                Format::Yaml,
                false,
            )
            .await?;
            let request = copilot_request(&stack_name, &stack, &template, &uploader, &keys);
            run_deploy(&deployer, &request, &view).await?;
            eprintln!(
                "Removed the environment addons from Copilot's stack {stack_name}; the rest of the stack is unchanged."
            );
            Ok(())
        }
        EnvOwnership::Copilot(_) => Err(Failure::Usage(format!(
            "stack {stack_name} was deployed by Copilot: copilot-lite does not delete it (`copilot env delete --name {}` removes a Copilot environment); `copilot-lite env delete --addons-only` removes just its addons",
            target.env
        ))),
        EnvOwnership::Own if args.addons_only => Err(Failure::Usage(format!(
            "stack {stack_name} is copilot-lite's own and holds nothing but the addons: `copilot-lite env delete` without --addons-only deletes it"
        ))),
        EnvOwnership::Own => {
            let result = deployer.delete_stack(&stack_name, &view).await;
            view.finish();
            result?;
            eprintln!("Deleted stack {stack_name} (uploaded assets are kept).");
            Ok(())
        }
    }
}

/// `env deploy --diff`: what the deploy would change, against the deployed stack. Creates,
/// uploads and changes nothing. For copilot-lite's own stack (or none): the environment stack
/// template; for Copilot's: its template with `AddonsStack` set (the only edit); then the
/// addons template. Exit 0 when equal, 1 when different (errors exit 2, see `main`).
async fn diff(
    deployer: &Deployer,
    stack: &str,
    ownership: &EnvOwnership,
    addons: &Addons,
    prepared: &packager::Prepared,
    uploader: &upload::Uploader,
    keys: &KeyLayout,
) -> Result<(), Failure> {
    let (packaged, url) = rendered_addons(prepared, uploader, &keys.env_addons_templates())?;
    let mut changed = match ownership {
        EnvOwnership::Copilot(copilot) => print_diff(
            &format!("{stack} (Copilot's; only AddonsStack may change)"),
            copilot.template(),
            &copilot.with_addons(Some((&url, addons.parameters()))),
        ),
        _ => {
            let deployed = match ownership {
                EnvOwnership::Absent => String::new(),
                _ => deployer.get_template(stack).await?.unwrap_or_default(),
            };
            let own = copilot_model::environment_template(Some(addons));
            print_diff(&format!("{stack} (environment stack)"), &deployed, &own)
        }
    };
    let deployed_addons = match ownership {
        EnvOwnership::Absent => None,
        _ => deployer.nested_template(stack, ADDONS_STACK).await?,
    };
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
