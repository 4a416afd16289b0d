//! Scenarios of `copilot-lite package` on `examples/package`.

use std::collections::BTreeSet;
use std::fs;
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;

use super::ctx::{Ctx, copy_dir, line_of, read_folder, read_zip, same_tree, yaml_values};
use super::{Needs, Scenario};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "package-uploads",
            what: "package examples/package: artifacts uploaded, zip = folder, template kept",
            needs: Needs::Package,
            run: uploads,
        },
        Scenario {
            name: "package-idempotent",
            what: "a second package run uploads nothing and writes the same template",
            needs: Needs::Package,
            run: idempotent,
        },
        Scenario {
            name: "package-deploys",
            what: "the packaged template deploys (Lambda code = folder, nested stack resolves)",
            needs: Needs::Package,
            run: deploys,
        },
        Scenario {
            name: "s3-stock",
            what: "LocalStack's S3 as shipped: single-part and multipart uploads, existence check",
            needs: Needs::Package,
            run: s3_stock,
        },
        Scenario {
            name: "package-bad-input",
            what: "missing folder and nested template: exit 1, file:line named, nothing uploaded",
            needs: Needs::Package,
            run: bad_input,
        },
    ]
}

/// Where the packaged template of `examples/package` points.
struct Packaged {
    text: String,
    code_key: String,
    definition_key: String,
    nested_key: String,
}

fn example(ctx: &Ctx) -> std::path::PathBuf {
    ctx.root.join("examples/package")
}

/// `copilot-lite package` of `examples/package` into `out` (relative to the scratch folder).
fn package(ctx: &Ctx, bucket: &str, out: &str) -> Result<Packaged> {
    let template = example(ctx).join("template.yml");
    let out = ctx.work.join(out);
    ctx.copilot(
        &ctx.work,
        &[
            "package",
            "--template-file",
            &template.display().to_string(),
            "--s3-bucket",
            bucket,
            "--output-template-file",
            &out.display().to_string(),
        ],
    )?
    .check()?;
    let text = fs::read_to_string(&out)
        .with_context(|| format!("no output template {}", out.display()))?;
    let one = |key: &str| -> Result<String> {
        match yaml_values(&text, key).as_slice() {
            [v] => Ok(v.clone()),
            other => bail!("expected one `{key}:` in the packaged template, found {other:?}"),
        }
    };
    ensure!(
        one("S3Bucket")? == bucket && one("Bucket")? == bucket,
        "the packaged template names another bucket than {bucket}:\n{text}"
    );
    let url = one("TemplateURL")?;
    ensure!(
        url.starts_with("https://") || url.starts_with("http://"),
        "TemplateURL is not a URL: {url}"
    );
    ensure!(
        url.contains(bucket),
        "TemplateURL {url} does not name the bucket {bucket}"
    );
    let nested_key = url
        .rsplit_once(&format!("{bucket}/"))
        .or_else(|| {
            url.split_once(".amazonaws.com/")
                .map(|(a, b)| (a, b.trim_start_matches('/')))
        })
        .map(|(_, key)| key.to_owned())
        .with_context(|| format!("cannot find the key in TemplateURL {url}"))?;
    Ok(Packaged {
        code_key: one("S3Key")?,
        definition_key: one("Key")?,
        nested_key,
        text,
    })
}

fn uploads(ctx: &mut Ctx) -> Result<()> {
    let bucket = ctx.id.clone();
    ctx.make_bucket(&bucket)?;
    let p = package(ctx, &bucket, "packaged.yml")?;

    let keys: BTreeSet<String> = ctx
        .list_objects(&bucket)?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let want: BTreeSet<String> = [&p.code_key, &p.definition_key, &p.nested_key]
        .into_iter()
        .cloned()
        .collect();
    ensure!(
        keys == want,
        "bucket holds {keys:?}, the template refers to {want:?}"
    );

    let src = example(ctx);
    let zip = ctx.download(&bucket, &p.code_key)?;
    same_tree(
        &read_zip(&zip)?,
        &read_folder(&src.join("functions/hello"))?,
    )
    .context("the uploaded Lambda zip differs from functions/hello/")?;
    let def = ctx.download(&bucket, &p.definition_key)?;
    ensure!(
        fs::read(&def)? == fs::read(src.join("definitions/workflow.json"))?,
        "the uploaded definition differs from definitions/workflow.json"
    );
    let nested = ctx.download(&bucket, &p.nested_key)?;
    ensure!(
        fs::read(&nested)? == fs::read(src.join("nested/queues.yml"))?,
        "the uploaded nested template differs from nested/queues.yml (it has nothing to rewrite)"
    );

    // Lossless: every line that is not a rewritten property is kept, in order.
    let source = fs::read_to_string(src.join("template.yml"))?;
    let rewritten = [
        "Code: functions/hello/",
        "DefinitionS3Location:",
        "TemplateURL:",
    ];
    let mut out_lines = p.text.lines();
    for line in source
        .lines()
        .filter(|l| !rewritten.iter().any(|r| l.contains(r)))
    {
        ensure!(
            out_lines.any(|o| o == line),
            "the packaged template lost or reordered the line {line:?}:\n{}",
            p.text
        );
    }
    for kept in [
        "Role: !GetAtt HelloRole.Arn",
        "# A function whose code is a local folder",
        "Value: !GetAtt HelloFunction.Arn",
    ] {
        ensure!(p.text.contains(kept), "the packaged template lost {kept:?}");
    }
    Ok(())
}

fn idempotent(ctx: &mut Ctx) -> Result<()> {
    let bucket = ctx.id.clone();
    ctx.make_versioned_bucket(&bucket)?;
    let first = package(ctx, &bucket, "first.yml")?;
    let before = ctx.list_objects(&bucket)?;
    ensure!(before.len() == 3, "expected 3 objects, found {before:?}");
    // Last-Modified has a one-second resolution.
    sleep(Duration::from_millis(1100));
    let second = package(ctx, &bucket, "second.yml")?;
    let after = ctx.list_objects(&bucket)?;
    ensure!(
        before == after,
        "the second run changed the bucket:\nbefore {before:#?}\nafter {after:#?}"
    );
    let versions = ctx.count_versions(&bucket)?;
    ensure!(
        versions == before.len(),
        "{versions} object versions for {} objects: something was uploaded again",
        before.len()
    );
    ensure!(
        first.text == second.text,
        "the two runs wrote different templates:\n--- first\n{}\n--- second\n{}",
        first.text,
        second.text
    );
    Ok(())
}

fn deploys(ctx: &mut Ctx) -> Result<()> {
    let bucket = ctx.id.clone();
    ctx.make_bucket(&bucket)?;
    package(ctx, &bucket, "packaged.yml")?;
    let stack = format!("{}-package", ctx.id);
    let stage = ctx.id.replace('-', "");
    ctx.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        &stack,
        "--template-body",
        &format!("file://{}", ctx.work.join("packaged.yml").display()),
        "--capabilities",
        "CAPABILITY_IAM",
        "--parameters",
        &format!("ParameterKey=Stage,ParameterValue={stage}"),
    ])?;
    let status = ctx.wait_stack(&stack, Duration::from_secs(240))?;
    if status != "CREATE_COMPLETE" {
        bail!(
            "stack {stack} ended in {status}:\n{}",
            ctx.failure_reasons(&stack)
        );
    }
    let outputs = ctx.stack_outputs(&stack)?;
    let arn = outputs
        .get("FunctionArn")
        .filter(|v| v.starts_with("arn:"))
        .with_context(|| format!("output FunctionArn missing: {outputs:?}"))?;
    ctx.check_function_code(arn, &example(ctx).join("functions/hello"))?;
    let config = ctx.aws_json(&[
        "lambda",
        "get-function-configuration",
        "--function-name",
        arn,
    ])?;
    ensure!(
        config
            .pointer("/Environment/Variables/STAGE")
            .and_then(|v| v.as_str())
            == Some(&stage),
        "the function's STAGE variable is not {stage}: {config}"
    );

    let resources = ctx.stack_resources(&stack)?;
    let (kind, nested_id, nested_status) = resources
        .get("Queues")
        .with_context(|| format!("no resource Queues in {resources:?}"))?;
    ensure!(
        kind == "AWS::CloudFormation::Stack" && nested_status == "CREATE_COMPLETE",
        "nested stack Queues is {kind} {nested_status}"
    );
    let nested_out = ctx.stack_outputs(nested_id)?;
    ensure!(
        nested_out
            .get("QueueUrl")
            .is_some_and(|u| u.contains(&format!("{stage}-jobs"))),
        "nested stack output QueueUrl: {nested_out:?}"
    );
    // (the AWS CLI v1 ignores AWS_ENDPOINT_URL for SQS: name it)
    ctx.aws(&[
        "--endpoint-url",
        &ctx.env.endpoint_url,
        "sqs",
        "get-queue-url",
        "--queue-name",
        &format!("{stage}-jobs"),
    ])?;
    let (_, _, workflow) = resources
        .get("Workflow")
        .with_context(|| format!("no resource Workflow in {resources:?}"))?;
    ensure!(workflow == "CREATE_COMPLETE", "Workflow is {workflow}");
    Ok(())
}

fn bad_input(ctx: &mut Ctx) -> Result<()> {
    let bucket = ctx.id.clone();
    ctx.make_bucket(&bucket)?;
    let src = ctx.work.join("src");
    copy_dir(&example(ctx), &src)?;
    fs::remove_dir_all(src.join("functions/hello"))?;
    fs::remove_file(src.join("nested/queues.yml"))?;
    let template = src.join("template.yml");
    let text = fs::read_to_string(&template)?;
    let run = ctx.copilot(
        &src,
        &[
            "package",
            "--template-file",
            "template.yml",
            "--s3-bucket",
            &bucket,
        ],
    )?;
    ensure!(
        !run.ok,
        "package succeeded although functions/hello/ is missing:\n{}",
        run.stdout
    );
    ensure!(
        run.code == Some(1),
        "exit code {:?}, expected 1:\n{}",
        run.code,
        run.tail()
    );
    for needle in ["Code: functions/hello/", "TemplateURL: nested/queues.yml"] {
        let line = line_of(&text, needle).context("example changed")?;
        let at = format!("template.yml:{line}");
        ensure!(
            run.stderr.contains(&at),
            "the error does not name {at} ({needle}):\n{}",
            run.stderr
        );
    }
    ensure!(
        run.stdout.trim().is_empty(),
        "a template was printed:\n{}",
        run.stdout
    );
    let objects = ctx.list_objects(&bucket)?;
    ensure!(
        objects.is_empty(),
        "bad input uploaded {:?}",
        objects.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    Ok(())
}

/// Bytes that DEFLATE cannot shrink (xorshift64), so the zip of a file of `len` bytes is
/// larger than `len`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Uploads against LocalStack's S3 module as shipped (`cargo xtask localstack setup` does not
/// patch it): a small zip (one `PutObject`), a zip above the 8 MiB multipart threshold
/// (`CreateMultipartUpload` and three `UploadPart`s), and a second run that finds both present.
fn s3_stock(ctx: &mut Ctx) -> Result<()> {
    let module =
        crate::localstack::setup::module_file(&ctx.env.paths, crate::localstack::setup::S3_UTILS)?;
    let source =
        fs::read_to_string(&module).with_context(|| format!("cannot read {}", module.display()))?;
    ensure!(
        source.contains(crate::localstack::setup::S3_TRAILER_STOCK),
        "{} is not LocalStack's module as shipped (its checksum-trailer line was changed)",
        module.display()
    );

    let bucket = ctx.id.clone();
    ctx.make_versioned_bucket(&bucket)?;
    let small = ctx.work.join("small");
    let big = ctx.work.join("big");
    fs::create_dir_all(&small)?;
    fs::create_dir_all(&big)?;
    fs::write(
        small.join("index.py"),
        "def handler(event, context):\n    return 1\n",
    )?;
    fs::write(big.join("model.bin"), noise(20 * 1024 * 1024, 7))?;
    fs::write(
        big.join("index.py"),
        "def handler(event, context):\n    return 2\n",
    )?;
    let template = ctx.work.join("template.yml");
    fs::write(
        &template,
        "Resources:\n\
         \x20 Small:\n\
         \x20   Type: AWS::Lambda::Function\n\
         \x20   Properties:\n\
         \x20     Code: small/\n\
         \x20 Big:\n\
         \x20   Type: AWS::Lambda::Function\n\
         \x20   Properties:\n\
         \x20     Code: big/\n",
    )?;
    let run = |out: &str| -> Result<String> {
        let out = ctx.work.join(out);
        ctx.copilot(
            &ctx.work,
            &[
                "package",
                "--template-file",
                &template.display().to_string(),
                "--s3-bucket",
                &bucket,
                "--output-template-file",
                &out.display().to_string(),
            ],
        )?
        .check()?;
        Ok(fs::read_to_string(&out)?)
    };
    let text = run("first.yml")?;
    let keys = yaml_values(&text, "S3Key");
    let [small_key, big_key] = keys.as_slice() else {
        bail!("expected two S3Key in the packaged template:\n{text}");
    };
    let objects = ctx.list_objects(&bucket)?;
    ensure!(objects.len() == 2, "expected 2 objects, found {objects:?}");
    for (key, folder) in [(small_key, &small), (big_key, &big)] {
        let zip = ctx.download(&bucket, key)?;
        same_tree(&read_zip(&zip)?, &read_folder(folder)?)
            .with_context(|| format!("the zip at {key} differs from {}", folder.display()))?;
        let head = ctx.aws_json(&[
            "s3api",
            "head-object",
            "--bucket",
            &bucket,
            "--key",
            key,
            "--checksum-mode",
            "ENABLED",
        ])?;
        let stored = head
            .get("ChecksumCRC32C")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let etag = head.get("ETag").and_then(|v| v.as_str()).unwrap_or("");
        if key == small_key {
            let bytes = fs::read(&zip)?;
            let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, &bytes) as u32;
            let want = base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes());
            ensure!(
                stored == want,
                "S3 stored the CRC32C {stored:?} for {key}, its bytes have {want}"
            );
            ensure!(!etag.contains('-'), "{key} has a multipart ETag {etag}");
        } else {
            let size = fs::metadata(&zip)?.len();
            ensure!(
                size > 16 * 1024 * 1024,
                "the big zip is {size} bytes: not a three-part upload"
            );
            ensure!(
                etag.trim_matches('"').ends_with("-3"),
                "{key} ({size} bytes) was not uploaded in 3 parts: ETag {etag}"
            );
            ensure!(
                stored.ends_with("-3"),
                "{key}: S3 stored no composite CRC32C of 3 parts ({stored:?})"
            );
        }
    }
    let second = run("second.yml")?;
    ensure!(second == text, "the second run wrote another template");
    let versions = ctx.count_versions(&bucket)?;
    ensure!(
        versions == 2,
        "{versions} object versions after the second run: it uploaded again instead of finding the objects"
    );
    Ok(())
}
