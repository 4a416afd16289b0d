//! What scenarios share: the binary under test, the AWS CLI against LocalStack, S3 listings,
//! zip comparison, stack polling.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::localstack::{LocalStackEnv, interrupted};

/// One scenario's view of the world.
pub struct Ctx<'a> {
    pub env: &'a LocalStackEnv,
    /// The `copilot-lite` binary under test.
    pub bin: PathBuf,
    /// The workspace root (examples live under it).
    pub root: PathBuf,
    /// A fresh scratch folder for this scenario.
    pub work: PathBuf,
    /// Unique per scenario and run: use it in every bucket / stack name.
    pub id: String,
    /// Unique per run (shared by the scenarios of one run).
    pub run: String,
    /// The parent of every scenario's scratch folder (state shared between scenarios).
    pub scratch: PathBuf,
}

/// A finished command: exit status and captured output.
pub struct Run {
    pub line: String,
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(line: String, out: Output) -> Run {
        Run {
            line,
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The last lines of stderr (and stdout when stderr is empty), for error messages.
    pub fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let start = lines.len().saturating_sub(25);
        lines[start..].join("\n")
    }

    /// Fails with the command line, exit code and output unless it succeeded.
    pub fn check(self) -> Result<Run> {
        if !self.ok {
            bail!(
                "`{}` exited with {}:\n{}",
                self.line,
                self.code.map_or("a signal".to_owned(), |c| c.to_string()),
                indent(&self.tail())
            );
        }
        Ok(self)
    }
}

pub fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An S3 object as listed by `list-objects-v2`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    pub key: String,
    pub etag: String,
    pub last_modified: String,
    pub size: u64,
}

impl Ctx<'_> {
    /// Writes a log of every command of the scenario into `work/commands.log`.
    fn log(&self, line: &str, run: &Run) {
        use std::io::Write;
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("commands.log"))
        {
            let _ = writeln!(
                f,
                "$ {line}\n[exit {:?}]\n--- stdout\n{}\n--- stderr\n{}\n",
                run.code, run.stdout, run.stderr
            );
        }
    }

    fn output(&self, mut cmd: Command, line: String) -> Result<Run> {
        if let Some(sig) = interrupted() {
            bail!("interrupted by signal {sig}");
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run `{line}`"))?;
        let run = Run::from(line.clone(), out);
        self.log(&line, &run);
        Ok(run)
    }

    /// `copilot-lite` with the LocalStack environment, its compressed-entry cache in the
    /// run's work folder (not the user's).
    pub fn lite_command(&self) -> Command {
        let mut cmd = self.env.command(&self.bin);
        cmd.env("COPILOT_LITE_CACHE_DIR", self.work.join("zip-entries"));
        cmd
    }

    /// Runs `copilot-lite ARGS` in `cwd` with the LocalStack environment (not checked).
    pub fn copilot(&self, cwd: &Path, args: &[&str]) -> Result<Run> {
        let mut cmd = self.lite_command();
        cmd.current_dir(cwd).args(args);
        self.output(cmd, format!("copilot-lite {}", args.join(" ")))
    }

    /// [`Ctx::copilot`] with extra environment variables (e.g. another `AWS_ENDPOINT_URL`).
    pub fn copilot_with_env(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
        let mut cmd = self.lite_command();
        cmd.current_dir(cwd).args(args).envs(env.iter().copied());
        let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.output(
            cmd,
            format!("{} copilot-lite {}", vars.join(" "), args.join(" ")),
        )
    }

    /// Runs the venv's `aws ARGS` (not checked).
    pub fn aws_run(&self, args: &[&str]) -> Result<Run> {
        let mut cmd = self.env.aws();
        cmd.args(args);
        self.output(cmd, format!("aws {}", args.join(" ")))
    }

    /// Runs `aws ARGS`; its stdout, or an error with its stderr.
    pub fn aws(&self, args: &[&str]) -> Result<String> {
        Ok(self.aws_run(args)?.check()?.stdout)
    }

    /// Runs `aws ARGS --output json` and parses the result (`null` when it prints nothing).
    pub fn aws_json(&self, args: &[&str]) -> Result<Value> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.aws(&all)?;
        if out.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&out)
            .with_context(|| format!("`aws {}` printed no JSON: {out}", args.join(" ")))
    }

    pub fn make_bucket(&self, bucket: &str) -> Result<()> {
        self.aws(&["s3api", "create-bucket", "--bucket", bucket])?;
        Ok(())
    }

    /// A bucket with versioning on: every upload leaves a version, so a run that uploads
    /// nothing can be told from one that uploads the same bytes again.
    pub fn make_versioned_bucket(&self, bucket: &str) -> Result<()> {
        self.make_bucket(bucket)?;
        self.aws(&[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            bucket,
            "--versioning-configuration",
            "Status=Enabled",
        ])?;
        Ok(())
    }

    /// Every object of `bucket` (all pages), sorted by key.
    pub fn list_objects(&self, bucket: &str) -> Result<Vec<Object>> {
        let v = self.aws_json(&["s3api", "list-objects-v2", "--bucket", bucket])?;
        let mut objects: Vec<Object> = v
            .get("Contents")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|o| Object {
                        key: str_of(o, "Key"),
                        etag: str_of(o, "ETag"),
                        last_modified: str_of(o, "LastModified"),
                        size: o.get("Size").and_then(Value::as_u64).unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        objects.sort();
        Ok(objects)
    }

    /// How many object versions `bucket` holds (versioning enabled) or objects (otherwise).
    pub fn count_versions(&self, bucket: &str) -> Result<usize> {
        let v = self.aws_json(&["s3api", "list-object-versions", "--bucket", bucket])?;
        Ok(v.get("Versions")
            .and_then(Value::as_array)
            .map_or(0, Vec::len))
    }

    /// Downloads `s3://bucket/key` into the scratch folder; returns the local path.
    pub fn download(&self, bucket: &str, key: &str) -> Result<PathBuf> {
        let name = key.replace('/', "_");
        let dest = self.work.join(format!("dl-{name}"));
        self.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            bucket,
            "--key",
            key,
            &dest.display().to_string(),
        ])?;
        Ok(dest)
    }

    /// Downloads an http(s) URL (e.g. a Lambda code location) with the venv's Python.
    pub fn download_url(&self, url: &str, name: &str) -> Result<PathBuf> {
        let dest = self.work.join(name);
        let mut cmd = Command::new(self.env.paths.venv_python());
        cmd.args([
            "-c",
            "import sys, urllib.request\n\
             with urllib.request.urlopen(sys.argv[1], timeout=30) as r, open(sys.argv[2], 'wb') as f:\n    \
             f.write(r.read())",
            url,
            &dest.display().to_string(),
        ]);
        self.output(cmd, format!("download {url}"))?.check()?;
        Ok(dest)
    }

    /// Polls (every 0.5 s) until the stack leaves `*_IN_PROGRESS`; `GONE` when it does not exist.
    pub fn wait_stack(&self, stack: &str, timeout: Duration) -> Result<String> {
        let t0 = Instant::now();
        loop {
            let run = self.aws_run(&[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                stack,
                "--query",
                "Stacks[0].StackStatus",
                "--output",
                "text",
            ])?;
            let status = if run.ok {
                run.stdout.trim().to_owned()
            } else if run.stderr.contains("does not exist") {
                "GONE".to_owned()
            } else {
                bail!("describe-stacks {stack} failed: {}", run.tail());
            };
            if !status.ends_with("_IN_PROGRESS") {
                return Ok(status);
            }
            if t0.elapsed() > timeout {
                bail!("stack {stack} still {status} after {} s", timeout.as_secs());
            }
            if let Some(sig) = interrupted() {
                bail!("interrupted by signal {sig}");
            }
            sleep(Duration::from_millis(500));
        }
    }

    /// Creates stack `stack` with one queue, no tags and no mark: a stack nobody we know made.
    pub fn create_foreign_stack(&self, stack: &str) -> Result<()> {
        let file = self.work.join("foreign.yml");
        fs::write(&file, "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")?;
        self.aws(&[
            "cloudformation",
            "create-stack",
            "--stack-name",
            stack,
            "--template-body",
            &format!("file://{}", file.display()),
        ])?;
        let status = self.wait_stack(stack, Duration::from_secs(60))?;
        ensure!(
            status == "CREATE_COMPLETE",
            "the foreign stack {stack} is {status}"
        );
        Ok(())
    }

    /// The stack's template as deployed (`GetTemplate`, stage `Original`).
    pub fn stack_template(&self, stack: &str) -> Result<String> {
        let v = self.aws_json(&[
            "cloudformation",
            "get-template",
            "--stack-name",
            stack,
            "--template-stage",
            "Original",
        ])?;
        Ok(match v.get("TemplateBody") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
    }

    /// The failure reasons of a stack's events (`LogicalId: reason` lines).
    pub fn failure_reasons(&self, stack: &str) -> String {
        self.aws(&[
            "cloudformation",
            "describe-stack-events",
            "--stack-name",
            stack,
            "--query",
            "StackEvents[?contains(ResourceStatus, 'FAILED')].[LogicalResourceId,ResourceStatusReason]",
            "--output",
            "text",
        ])
        .unwrap_or_else(|e| format!("(no events: {e:#})"))
    }

    /// `Stacks[0]` of describe-stacks.
    pub fn describe_stack(&self, stack: &str) -> Result<Value> {
        let v = self.aws_json(&["cloudformation", "describe-stacks", "--stack-name", stack])?;
        v.pointer("/Stacks/0")
            .cloned()
            .with_context(|| format!("describe-stacks {stack}: no stack in {v}"))
    }

    /// The stack's outputs as a map.
    pub fn stack_outputs(&self, stack: &str) -> Result<BTreeMap<String, String>> {
        let s = self.describe_stack(stack)?;
        Ok(s.get("Outputs")
            .and_then(Value::as_array)
            .map(|outs| {
                outs.iter()
                    .map(|o| (str_of(o, "OutputKey"), str_of(o, "OutputValue")))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `LogicalResourceId -> (ResourceType, PhysicalResourceId, ResourceStatus)`.
    pub fn stack_resources(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, (String, String, String)>> {
        let v = self.aws_json(&[
            "cloudformation",
            "describe-stack-resources",
            "--stack-name",
            stack,
        ])?;
        Ok(v.get("StackResources")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        (
                            str_of(r, "LogicalResourceId"),
                            (
                                str_of(r, "ResourceType"),
                                str_of(r, "PhysicalResourceId"),
                                str_of(r, "ResourceStatus"),
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// GetFunction, then downloads its code and checks that the zip holds exactly `folder`.
    /// Returns the `Configuration` object.
    pub fn check_function_code(&self, function: &str, folder: &Path) -> Result<Value> {
        let f = self.aws_json(&["lambda", "get-function", "--function-name", function])?;
        let state = f
            .pointer("/Configuration/State")
            .and_then(Value::as_str)
            .unwrap_or("?");
        ensure!(
            state == "Active",
            "Lambda {function} is {state}, not Active"
        );
        let location = f
            .pointer("/Code/Location")
            .and_then(Value::as_str)
            .with_context(|| format!("get-function {function}: no Code.Location"))?;
        let zip = self.download_url(location, &format!("{function}-code.zip"))?;
        same_tree(&read_zip(&zip)?, &read_folder(folder)?).with_context(|| {
            format!(
                "the code of Lambda {function} differs from {}",
                folder.display()
            )
        })?;
        Ok(f.get("Configuration").cloned().unwrap_or(Value::Null))
    }
}

pub fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The files of a zip: `path -> bytes` (directory entries left out).
pub fn read_zip(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", path.display()))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .with_context(|| format!("{}: cannot read entry {i}", path.display()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .with_context(|| format!("{}: entry {i} has no valid name", path.display()))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: cannot unzip {name}", path.display()))?;
        files.insert(name, bytes);
    }
    Ok(files)
}

/// The files under a folder: `relative/path -> bytes`.
pub fn read_folder(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, files)?;
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let bytes =
                    fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                files.insert(rel, bytes);
            }
        }
        Ok(())
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files)?;
    Ok(files)
}

/// Same paths and bytes, or an error naming the differences.
pub fn same_tree(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let mut problems = Vec::new();
    for (path, bytes) in want {
        match got.get(path) {
            None => problems.push(format!("missing {path}")),
            Some(b) if b != bytes => problems.push(format!(
                "{path} differs ({} bytes, expected {})",
                b.len(),
                bytes.len()
            )),
            Some(_) => {}
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        problems.push(format!("unexpected {path}"));
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

/// Copies a folder recursively (the examples into a scratch folder that scenarios may edit).
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// The value after `key:` on the lines of a YAML text where it appears (simple scalars only).
pub fn yaml_values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}:");
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix(&prefix))
        .map(|v| {
            let v = v.split(" #").next().unwrap_or(v).trim();
            v.trim_matches(|c| c == '"' || c == '\'').to_owned()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}
