//! `svc deploy --hotswap`: what is deployed (deploy), whether only Lambda code changed and the
//! Lambda updates (hotswap), and the record of what was swapped (stored with upload).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use copilot_model::names::{ADDONS_STACK, PARAM_ADDONS_URL};
use deploy::{Deployer, StackRequest};
use hotswap::{Condition, Lambda, Record, S3Location, Swap, SwapOutcome, Swapped};

use crate::report::Failure;
use crate::svc::ReadStack;

/// The resource type that a hotswapped function is once deployed (a SAM function included).
const FUNCTION_TYPE: &str = "AWS::Lambda::Function";

/// The functions a hotswap updates, each with its physical name and new code.
pub(crate) struct Plan {
    stack: String,
    targets: Vec<(String, String, S3Location)>,
    /// The code locations of the deployed addons template (what CloudFormation believes).
    deployed: BTreeMap<String, S3Location>,
    record: Record,
}

/// What [`apply`] did.
pub(crate) struct Applied {
    pub(crate) updated: Vec<String>,
    pub(crate) skipped: usize,
}

/// The record of the stack's hotswapped functions, `None` when there is none. An unreadable
/// record counts as one without functions: the stack is not taken as unchanged, and the next
/// deploy removes it.
pub(crate) async fn read_record(
    uploader: &upload::Uploader,
    key: &str,
) -> Result<Option<Record>, Failure> {
    let Some(bytes) = uploader.get(key).await? else {
        return Ok(None);
    };
    Ok(Some(Record::parse(&bytes).unwrap_or_else(|e| {
        tracing::warn!(key, error = %e, "unreadable hotswap record, ignored");
        Record::default()
    })))
}

/// Whether `request` can be done by hotswapping: the stack itself unchanged but for the addons
/// template's URL, and the addons template changed only in the code of Lambda functions that
/// exist. `Ok(Err(why))` when not.
pub(crate) async fn plan(
    deployer: &Deployer,
    stack_name: &str,
    deployed: Option<&ReadStack>,
    request: &StackRequest,
    stack_text: &str,
    addons_text: &str,
    record: Option<&Record>,
) -> Result<Result<Plan, String>, Failure> {
    let Some(read) = deployed else {
        return Ok(Err(format!("stack {stack_name} is not deployed yet")));
    };
    // The stack itself: nothing may differ but the addons template's URL.
    let deployed_url = read
        .description
        .parameters
        .iter()
        .find(|(k, _)| k == PARAM_ADDONS_URL)
        .map(|(_, v)| v.clone());
    let mut same = request.clone();
    for (key, value) in &mut same.parameters {
        if key == PARAM_ADDONS_URL
            && let Some(url) = &deployed_url
        {
            value.clone_from(url);
        }
    }
    if let Some(why) = deploy::what_changes(
        &same,
        stack_text,
        &read.description,
        read.stack.template.as_deref(),
    ) {
        return Ok(Err(format!("stack {stack_name} itself changes ({why})")));
    }
    let Some(nested) = deployer.nested_stack_id(stack_name, ADDONS_STACK).await? else {
        return Ok(Err(format!("stack {stack_name} has no {ADDONS_STACK} yet")));
    };
    let Some(deployed_addons) = deployer.get_template(&nested).await? else {
        return Ok(Err(format!("{ADDONS_STACK} has no template yet")));
    };
    let changes = match hotswap::compare(&deployed_addons, addons_text) {
        Ok(hotswap::Verdict::Unchanged) => Vec::new(),
        Ok(hotswap::Verdict::CodeOnly(changes)) => changes,
        Ok(hotswap::Verdict::Other(why)) => return Ok(Err(why)),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let (new_locations, deployed_locations) = match (
        hotswap::code_locations(addons_text),
        hotswap::code_locations(&deployed_addons),
    ) {
        (Ok(n), Ok(d)) => (n, d),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e.to_string())),
    };
    let record = record.cloned().unwrap_or_default();
    // The changed functions, and those hotswapped earlier whose code is not the new one.
    let mut wanted: BTreeMap<String, S3Location> = changes
        .into_iter()
        .map(|c| (c.logical_id, c.location))
        .collect();
    for (id, swapped) in &record.functions {
        if let Some(location) = new_locations.get(id)
            && (location.bucket != swapped.bucket || location.key != swapped.key)
        {
            wanted.entry(id.clone()).or_insert_with(|| location.clone());
        }
    }
    let functions = functions_in(deployer, &nested).await?;
    let mut targets = Vec::new();
    for (id, location) in wanted {
        let Some(function) = functions.get(&id).cloned() else {
            return Ok(Err(format!(
                "function {id} has no deployed Lambda function in {ADDONS_STACK}"
            )));
        };
        targets.push((id, function, location));
    }
    Ok(Ok(Plan {
        stack: stack_name.to_owned(),
        targets,
        deployed: deployed_locations,
        record,
    }))
}

/// Updates the planned functions (after their code is uploaded: `uploads`), skipping those
/// that already run it, then stores the record of what now differs from the stack's template.
pub(crate) async fn apply(
    lambda: &Lambda,
    plan: Plan,
    uploads: &[packager::UploadReport],
    uploader: &upload::Uploader,
    record_key: &str,
) -> Result<Applied, Failure> {
    let started = Instant::now();
    let built: HashMap<&str, String> = uploads
        .iter()
        .filter_map(|u| Some((u.key.as_str(), hotswap::code_sha256(&u.zip_sha256?))))
        .collect();
    let Plan {
        stack,
        targets,
        deployed,
        mut record,
    } = plan;
    let before = record.clone();
    let mut applied = Applied {
        updated: Vec::new(),
        skipped: 0,
    };
    let mut failure = None;
    for (id, function, location) in targets {
        // The new code's CodeSha256, when known: zipped this run, or swapped in before.
        let expected = built.get(location.key.as_str()).cloned().or_else(|| {
            before
                .sha_of(&location.bucket, &location.key)
                .map(str::to_owned)
        });
        let swap = Swap {
            logical_id: id.clone(),
            function: function.clone(),
            location: location.clone(),
            condition: Condition::UnlessCodeIs(expected),
        };
        let code_sha256 = match lambda.swap(&swap).await {
            Ok(SwapOutcome::Updated { code_sha256 }) => {
                applied.updated.push(id.clone());
                code_sha256
            }
            Ok(SwapOutcome::Skipped { code_sha256 }) => {
                applied.skipped += 1;
                code_sha256
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        // A function back at the code the template names is in line again.
        if deployed.get(&id) == Some(&location) {
            record.functions.remove(&id);
        } else {
            record.functions.insert(
                id,
                Swapped {
                    function,
                    bucket: location.bucket,
                    key: location.key,
                    code_sha256,
                },
            );
        }
    }
    if record != before {
        store_record(uploader, record_key, &record).await?;
    }
    if let Some(e) = failure {
        return Err(e.into());
    }
    let secs = started.elapsed().as_secs_f64();
    match applied.updated.len() {
        0 => eprintln!(
            "Hotswap: nothing to update in stack {stack} ({} function{} already running the new code).",
            applied.skipped,
            if applied.skipped == 1 { "" } else { "s" }
        ),
        n => eprintln!(
            "Hotswapped the code of {n} function{} of stack {stack} in {secs:.1} s: {}{}.",
            if n == 1 { "" } else { "s" },
            applied.updated.join(", "),
            match applied.skipped {
                0 => String::new(),
                k => format!("; {k} already up to date"),
            }
        ),
    }
    if !record.functions.is_empty() {
        eprintln!(
            "Stack {stack} now runs other code than its template names, until the next `copilot-lite svc deploy` without --hotswap."
        );
    }
    Ok(applied)
}

/// After a deploy through a change set: every function hotswapped earlier that still runs its
/// hotswapped code although the template (now deployed) names other code gets the template's
/// code; then the record is removed. The functions are found in the addons stack by logical
/// ID, never by the name in the record: the record is only as trustworthy as the bucket, and
/// must not be able to point copilot-lite at a function outside the stack.
pub(crate) async fn restore(
    lambda: &Lambda,
    deployer: &Deployer,
    stack_name: &str,
    record: &Record,
    addons_text: &str,
    uploader: &upload::Uploader,
    record_key: &str,
) -> Result<(), Failure> {
    let deployed = hotswap::code_locations(addons_text).unwrap_or_default();
    let swaps = record.restore(&deployed);
    if !swaps.is_empty() {
        let functions = stack_functions(deployer, stack_name).await?;
        for mut swap in swaps {
            let Some(function) = functions.get(&swap.logical_id) else {
                tracing::warn!(logical_id = %swap.logical_id, "hotswapped function no longer in the addons stack");
                continue;
            };
            swap.function.clone_from(function);
            if let SwapOutcome::Updated { .. } = lambda.swap(&swap).await? {
                eprintln!(
                    "Put back the code of function {} that its template names (it ran hotswapped code).",
                    swap.logical_id
                );
            }
        }
    }
    uploader.delete(record_key).await?;
    Ok(())
}

/// The Lambda functions of the stack's addons stack: logical ID to physical name.
async fn stack_functions(
    deployer: &Deployer,
    stack_name: &str,
) -> Result<BTreeMap<String, String>, Failure> {
    match deployer.nested_stack_id(stack_name, ADDONS_STACK).await? {
        Some(nested) => functions_in(deployer, &nested).await,
        None => Ok(BTreeMap::new()),
    }
}

/// The Lambda functions of the stack `nested`: logical ID to physical name.
async fn functions_in(
    deployer: &Deployer,
    nested: &str,
) -> Result<BTreeMap<String, String>, Failure> {
    Ok(deployer
        .stack_resources(nested)
        .await?
        .into_iter()
        .filter(|r| r.resource_type == FUNCTION_TYPE && !r.physical_id.is_empty())
        .map(|r| (r.logical_id, r.physical_id))
        .collect())
}

async fn store_record(
    uploader: &upload::Uploader,
    key: &str,
    record: &Record,
) -> Result<(), Failure> {
    if record.functions.is_empty() {
        uploader.delete(key).await?;
    } else {
        uploader
            .put_bytes(key, record.to_json().into_bytes(), "application/json")
            .await?;
    }
    Ok(())
}
