//! `cargo xtask localstack smoke`: S3 and a CloudFormation stack (S3, DynamoDB with a
//! stream, IAM role, Lambda from an S3 zip, event source mapping, nested stack from a
//! TemplateURL), checked and deleted again, through the AWS CLI of the venv.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::LocalStackEnv;

const MAIN: &str = include_str!("smoke/main.yml");
const NESTED: &str = include_str!("smoke/nested.yml");
const HANDLER: &str = include_str!("smoke/index.js");
const BUCKET: &str = "xtask-smoke-artifacts";

pub fn run(env: &LocalStackEnv) -> Result<()> {
    let t0 = Instant::now();
    let dir = env.paths.run_dir().join("smoke");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("main.yml"), MAIN)?;
    fs::write(dir.join("nested.yml"), NESTED)?;
    fs::write(dir.join("index.js"), HANDLER)?;
    zip_handler(env, &dir)?;

    let file = |name: &str| dir.join(name).display().to_string();
    aws(env, &["s3", "mb", &format!("s3://{BUCKET}")])?;
    aws(
        env,
        &[
            "s3",
            "cp",
            &file("fn.zip"),
            &format!("s3://{BUCKET}/code/fn.zip"),
        ],
    )?;
    aws(
        env,
        &[
            "s3",
            "cp",
            &file("nested.yml"),
            &format!("s3://{BUCKET}/tpl/nested.yml"),
        ],
    )?;
    let listed = aws(env, &["s3", "ls", &format!("s3://{BUCKET}/code/")])?;
    ensure!(
        listed.contains("fn.zip"),
        "s3 ls does not show fn.zip: {listed}"
    );
    println!("smoke: S3 ok ({:.1} s)", t0.elapsed().as_secs_f64());

    // A fresh name per run: a failed stack can confuse LocalStack on reuse.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let stack = format!("xtask-smoke-{stamp}");
    let t1 = Instant::now();
    aws(
        env,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            &stack,
            "--template-body",
            &format!("file://{}", file("main.yml")),
            "--capabilities",
            "CAPABILITY_IAM",
            "--parameters",
            &format!("ParameterKey=CodeBucket,ParameterValue={BUCKET}"),
            "ParameterKey=CodeKey,ParameterValue=code/fn.zip",
            &format!(
                "ParameterKey=NestedUrl,ParameterValue={}/{BUCKET}/tpl/nested.yml",
                env.endpoint_url
            ),
        ],
    )?;
    let status = wait_stack(env, &stack, Duration::from_secs(180))?;
    if status != "CREATE_COMPLETE" {
        let events = aws(
            env,
            &[
                "cloudformation",
                "describe-stack-events",
                "--stack-name",
                &stack,
                "--query",
                "StackEvents[?contains(ResourceStatus, 'FAILED')].[LogicalResourceId,ResourceStatusReason]",
                "--output",
                "text",
            ],
        )
        .unwrap_or_default();
        bail!("stack {stack} ended in {status}:\n{events}");
    }
    println!(
        "smoke: stack {stack} CREATE_COMPLETE in {:.1} s",
        t1.elapsed().as_secs_f64()
    );

    let output = |key: &str| -> Result<String> {
        let v = aws(
            env,
            &[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                &stack,
                "--query",
                &format!("Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue"),
                "--output",
                "text",
            ],
        )?;
        let v = v.trim().to_owned();
        ensure!(
            !v.is_empty() && v != "None",
            "stack output {key} is missing"
        );
        Ok(v)
    };
    let queue_arn = output("QueueArn")?;
    ensure!(
        queue_arn.starts_with("arn:aws:sqs:"),
        "nested output QueueArn = {queue_arn}"
    );
    let table = output("TableName")?;
    aws(
        env,
        &[
            "dynamodb",
            "put-item",
            "--table-name",
            &table,
            "--item",
            r#"{"pk":{"S":"smoke"},"v":{"N":"1"}}"#,
        ],
    )?;
    let item = aws(
        env,
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            &table,
            "--key",
            r#"{"pk":{"S":"smoke"}}"#,
            "--output",
            "json",
        ],
    )?;
    ensure!(
        item.contains("\"smoke\""),
        "get-item did not return the item: {item}"
    );
    let function = output("FunctionName")?;
    let state = aws(
        env,
        &[
            "lambda",
            "get-function",
            "--function-name",
            &function,
            "--query",
            "Configuration.State",
            "--output",
            "text",
        ],
    )?;
    ensure!(
        state.trim() == "Active",
        "Lambda {function} is {}",
        state.trim()
    );
    let bucket = output("BucketName")?;
    aws(env, &["s3api", "head-bucket", "--bucket", &bucket])?;
    println!("smoke: outputs, DynamoDB item, Lambda Active, bucket ok");

    let t2 = Instant::now();
    aws(
        env,
        &["cloudformation", "delete-stack", "--stack-name", &stack],
    )?;
    let status = wait_stack(env, &stack, Duration::from_secs(120))?;
    ensure!(
        status == "DELETE_COMPLETE" || status == "GONE",
        "delete ended in {status}"
    );
    println!(
        "smoke: stack deleted in {:.1} s",
        t2.elapsed().as_secs_f64()
    );
    println!("smoke: passed in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// Polls every 0.5 s (the CLI waiters poll every 30 s) until a terminal status.
fn wait_stack(env: &LocalStackEnv, stack: &str, timeout: Duration) -> Result<String> {
    let t0 = Instant::now();
    loop {
        let out = env
            .aws()
            .args(["cloudformation", "describe-stacks", "--stack-name", stack])
            .args(["--query", "Stacks[0].StackStatus", "--output", "text"])
            .output()?;
        let status = if out.status.success() {
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        } else if String::from_utf8_lossy(&out.stderr).contains("does not exist") {
            "GONE".to_owned()
        } else {
            bail!(
                "describe-stacks failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        if !status.ends_with("_IN_PROGRESS") {
            return Ok(status);
        }
        if let Some(sig) = super::sys::interrupted() {
            bail!("interrupted by signal {sig}");
        }
        if t0.elapsed() > timeout {
            bail!("stack {stack} still {status} after {} s", timeout.as_secs());
        }
        sleep(Duration::from_millis(500));
    }
}

fn zip_handler(env: &LocalStackEnv, dir: &Path) -> Result<()> {
    let status = Command::new(env.paths.venv_python())
        .current_dir(dir)
        .args([
            "-c",
            "import zipfile; z = zipfile.ZipFile('fn.zip', 'w'); z.write('index.js'); z.close()",
        ])
        .status()
        .context("cannot run the venv's python to zip the Lambda code")?;
    ensure!(status.success(), "zipping the Lambda code failed");
    Ok(())
}

/// Runs the venv's `aws` with the LocalStack environment; stdout, or an error with stderr.
fn aws(env: &LocalStackEnv, args: &[&str]) -> Result<String> {
    let out = env
        .aws()
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", env.aws_cli.display()))?;
    if !out.status.success() {
        bail!(
            "`aws {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
