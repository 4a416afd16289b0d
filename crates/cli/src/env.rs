//! `copilot-lite env ...`: the environments' addons (`copilot/environments/addons/`), which
//! Copilot deploys into every environment stack `<app>-<env>`.

use copilot_model::{EnvTarget, KeyLayout, NameKind};
use copilot_workspace::{Addons, Workspace};

use crate::args::{EnvPackageArgs, EnvTargetArgs, SvcLsArgs};
use crate::output::{self, FileId};
use crate::package::connect;
use crate::report::{Failure, escape};
use crate::svc::{check_name, pin_owner, prepare, resolve_bucket, upload_addons, workspace};

pub async fn ls(args: SvcLsArgs) -> Result<(), Failure> {
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
/// addons.
fn load(target: &EnvTargetArgs) -> Result<(Workspace, EnvTarget, Option<Addons>), Failure> {
    check_name(|| "-n/--name".into(), NameKind::Environment, &target.name)?;
    let ws = workspace(target.app.as_deref())?;
    let env = EnvTarget::new(ws.app(), &target.name);
    let addons = ws.env_addons()?;
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
        upload_addons(prepared, &uploader, &keys.env_addons_templates()).await?
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
