//! `cargo xtask localstack setup`: a one-time, idempotent install of an
//! offline-capable LocalStack (host mode, no Docker) under `target/localstack`.
//!
//! What gets installed (see the module docs of [`super`] for why):
//! 1. a Python venv with `localstack-core[runtime]` and `awscli` (v1), resolved
//!    with `pip --uploaded-prior-to <release date>` (newer cbor2 / pyOpenSSL break it);
//! 2. DynamoDB Local, taken from the npm package `amplify-dynamodb-simulator`;
//! 3. a no-op `-javaagent` jar (LocalStack would download `ddb-local-loader`), built with javac;
//! 4. the system JDK 17 symlinked where LocalStack looks for its Java 21;
//! 5. `kinesis-local` from npm (backs DynamoDB Streams);
//! 6. a stub Lambda `init` binary (never executed without Docker).
//!
//! A stamp file records the pinned versions; when it matches, setup returns at once.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{Paths, sys};

/// A consistent set of pins for one Python generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub localstack: &'static str,
    /// Dependency resolution cut-off (`pip install --uploaded-prior-to`).
    pub uploaded_prior_to: &'static str,
    /// pip requirement for the AWS CLI v1 (resolved under the same cut-off, so it agrees
    /// with LocalStack's botocore).
    pub awscli: &'static str,
}

/// Python >= 3.12 (pyenv 3.13.0 / 3.12.1): the verified configuration.
pub const PROFILE_MODERN: Profile = Profile {
    name: "py312+",
    localstack: "2026.3.0",
    uploaded_prior_to: "2026-03-26T00:00:00Z",
    // What `awscli` resolves to under this cut-off (agrees with LocalStack's botocore 1.42.72).
    awscli: "awscli==1.44.62",
};

/// Fallback for Python 3.11 only (Debian's python3): older LocalStack, same preparation.
pub const PROFILE_PY311: Profile = Profile {
    name: "py311",
    localstack: "4.9.2",
    uploaded_prior_to: "2025-10-20T00:00:00Z",
    // Unverified here: resolved under the cut-off.
    awscli: "awscli",
};

pub const DYNAMODB_LOCAL_NPM: &str = "amplify-dynamodb-simulator";
pub const DYNAMODB_LOCAL_NPM_VERSION: &str = "2.9.30";
/// Bump when the layout produced by [`setup`] changes, to force a re-run.
const LAYOUT_VERSION: u32 = 5;

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// Install missing Debian packages with apt-get (root only).
    pub install_prereqs: bool,
    /// Redo every step even if the stamp says everything is in place.
    pub force: bool,
}

/// Tools found on this machine.
#[derive(Debug, Clone)]
pub struct Prereqs {
    pub python: PathBuf,
    pub profile: Profile,
    pub jdk: PathBuf,
    pub npm: PathBuf,
}

/// Installs what is missing; fast no-op when the stamp matches.
pub fn setup(paths: &Paths, opts: &SetupOptions) -> Result<()> {
    let started = Instant::now();
    if !opts.force
        && let Some(reason) = ready_or_reason(paths).err()
    {
        eprintln!(
            "localstack setup: {reason}; installing into {}",
            paths.home.display()
        );
    } else if !opts.force {
        eprintln!(
            "localstack setup: already installed in {} ({:.1} s)",
            paths.home.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if super::netns::in_private_network() {
        bail!(
            "setup needs the package registries (PyPI, npm) but this process runs in a private \
             network namespace; run `cargo xtask localstack setup` outside of it"
        );
    }
    let pre = check_prereqs(opts.install_prereqs)?;
    fs::create_dir_all(&paths.home)
        .with_context(|| format!("cannot create {}", paths.home.display()))?;
    // Invalidate first: a failure half-way must not leave a valid-looking stamp.
    let _ = fs::remove_file(paths.stamp());

    install_venv(paths, &pre, opts.force)?;
    patch_localstack(paths)?;
    let lambda_runtime = venv_value(
        paths,
        "from localstack.services.lambda_.packages import LAMBDA_RUNTIME_VERSION as v; print(v)",
    )?;
    let kinesis_mock = venv_value(
        paths,
        "from localstack.services.kinesis.packages import _KINESIS_MOCK_VERSION as v; print(v)",
    )?;
    let lib = paths.lib();
    let ddb_dir = lib.join("dynamodb-local/2");
    for dir in [&ddb_dir, &lib.join("java"), &paths.build()] {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    install_dynamodb_local(paths, &ddb_dir, opts.force)?;
    install_agent_jar(paths, &pre, &ddb_dir, opts.force)?;
    link_java(&lib, &pre.jdk)?;
    install_kinesis_local(&lib, &kinesis_mock, &pre.npm, opts.force)?;
    install_lambda_init(&lib, &lambda_runtime)?;
    link_bin(paths)?;

    fs::write(paths.stamp(), expected_stamp(&pre))
        .with_context(|| format!("cannot write {}", paths.stamp().display()))?;
    eprintln!(
        "localstack setup: done in {:.1} s: LocalStack {} ({}), python {}",
        started.elapsed().as_secs_f64(),
        pre.profile.localstack,
        pre.profile.name,
        pre.python.display()
    );
    Ok(())
}

fn expected_stamp(pre: &Prereqs) -> String {
    format!(
        "layout={LAYOUT_VERSION}\nprofile={}\nlocalstack-core={}\nuploaded-prior-to={}\nawscli={}\n\
         dynamodb-local={DYNAMODB_LOCAL_NPM}@{DYNAMODB_LOCAL_NPM_VERSION}\npython={}\njdk={}\n",
        pre.profile.name,
        pre.profile.localstack,
        pre.profile.uploaded_prior_to,
        pre.profile.awscli,
        pre.python.display(),
        pre.jdk.display(),
    )
}

/// `Ok` when a previous setup completed and still matches the pins; otherwise why not.
/// Cheap: reads the stamp and checks a few files, without probing the machine.
pub fn ready_or_reason(paths: &Paths) -> std::result::Result<Stamp, String> {
    let text = fs::read_to_string(paths.stamp()).map_err(|_| "not installed yet".to_owned())?;
    let stamp = Stamp::parse(&text);
    let layout_ok = stamp.get("layout") == Some(&LAYOUT_VERSION.to_string());
    let pins_ok = [PROFILE_MODERN, PROFILE_PY311].iter().any(|p| {
        stamp.get("profile").map(String::as_str) == Some(p.name)
            && stamp.get("localstack-core").map(String::as_str) == Some(p.localstack)
            && stamp.get("awscli").map(String::as_str) == Some(p.awscli)
            && stamp.get("uploaded-prior-to").map(String::as_str) == Some(p.uploaded_prior_to)
    });
    let ddb_ok = stamp.get("dynamodb-local").map(String::as_str)
        == Some(&format!(
            "{DYNAMODB_LOCAL_NPM}@{DYNAMODB_LOCAL_NPM_VERSION}"
        ));
    if !(layout_ok && pins_ok && ddb_ok) {
        return Err("pinned versions changed since the last setup".to_owned());
    }
    for file in [
        paths.venv_python(),
        paths.aws_cli(),
        paths.lib().join("dynamodb-local/2/DynamoDBLocal.jar"),
        paths
            .lib()
            .join("dynamodb-local/2/ddb-local-loader-0.1.jar"),
        paths.lib().join("java/21/bin/java"),
    ] {
        if !file.exists() {
            return Err(format!("{} is missing", file.display()));
        }
    }
    Ok(stamp)
}

/// Parsed `key=value` stamp file.
#[derive(Debug, Clone, Default)]
pub struct Stamp(pub Vec<(String, String)>);

impl Stamp {
    fn parse(text: &str) -> Stamp {
        Stamp(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        )
    }
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

// ---------------------------------------------------------------------------
// Prerequisites

struct Missing {
    what: String,
    apt: &'static [&'static str],
    hint: String,
}

/// Finds Python, JDK, node/npm, tar, unshare and ip; optionally apt-installs missing ones.
pub fn check_prereqs(install: bool) -> Result<Prereqs> {
    let missing = missing_prereqs();
    if missing.is_empty() {
        return find_prereqs();
    }
    let apt: Vec<&str> = missing.iter().flat_map(|m| m.apt.iter().copied()).collect();
    if install && !apt.is_empty() {
        if sys::euid() != 0 {
            bail!(
                "--install-prereqs needs root (apt-get); run as root or install: {}",
                apt.join(" ")
            );
        }
        eprintln!(
            "localstack setup: installing prerequisites: {}",
            apt.join(" ")
        );
        run(
            Command::new("apt-get").arg("update").arg("-q"),
            "apt-get update",
        )?;
        run(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&apt)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install",
        )?;
        let still = missing_prereqs();
        if still.is_empty() {
            return find_prereqs();
        }
        return Err(prereq_error(&still, false));
    }
    Err(prereq_error(&missing, !apt.is_empty()))
}

fn prereq_error(missing: &[Missing], suggest_flag: bool) -> anyhow::Error {
    let mut msg = String::from("LocalStack prerequisites are missing:\n");
    for m in missing {
        msg.push_str(&format!("  - {}: {}\n", m.what, m.hint));
    }
    if suggest_flag {
        msg.push_str(
            "As root, `cargo xtask localstack setup --install-prereqs` installs the Debian packages.",
        );
    }
    anyhow::anyhow!(msg)
}

fn missing_prereqs() -> Vec<Missing> {
    let mut missing = Vec::new();
    if let Err(e) = find_python() {
        missing.push(Missing {
            what: "Python >= 3.11 with venv".into(),
            apt: &["python3", "python3-venv"],
            hint: format!(
                "{e:#}. Best: pyenv Python 3.13/3.12 (`pyenv install 3.13.0`), or set \
                 XTASK_LOCALSTACK_PYTHON=/path/to/python3.12+; Debian's python3 (3.11) works with \
                 an older LocalStack (`apt-get install -y python3 python3-venv`)"
            ),
        });
    }
    match find_jdk() {
        Ok(jdk) => {
            for tool in ["javac", "jar"] {
                if !jdk.join("bin").join(tool).exists() {
                    missing.push(Missing {
                        what: format!("{tool} (JDK 17)"),
                        apt: &["openjdk-17-jdk-headless"],
                        hint: format!(
                            "{} has no bin/{tool} (a JRE?): `apt-get install -y openjdk-17-jdk-headless`",
                            jdk.display()
                        ),
                    });
                }
            }
        }
        Err(e) => missing.push(Missing {
            what: "JDK 17".into(),
            apt: &["openjdk-17-jdk-headless"],
            hint: format!(
                "{e:#}: `apt-get install -y openjdk-17-jdk-headless` or set XTASK_LOCALSTACK_JDK"
            ),
        }),
    }
    for (tool, apt, hint) in [
        (
            "node",
            &["nodejs"][..],
            "Node.js runs kinesis-local: `apt-get install -y nodejs npm`",
        ),
        (
            "npm",
            &["npm"][..],
            "npm fetches DynamoDB Local and kinesis-local: `apt-get install -y npm`",
        ),
        ("tar", &["tar"][..], "`apt-get install -y tar`"),
        (
            "unshare",
            &["util-linux"][..],
            "runs LocalStack in a private network namespace: `apt-get install -y util-linux`",
        ),
        (
            "ip",
            &["iproute2"][..],
            "brings loopback up in the namespace: `apt-get install -y iproute2`",
        ),
    ] {
        if which(tool).is_none() {
            missing.push(Missing {
                what: tool.into(),
                apt,
                hint: hint.into(),
            });
        }
    }
    missing
}

fn find_prereqs() -> Result<Prereqs> {
    let (python, profile) = find_python()?;
    Ok(Prereqs {
        python,
        profile,
        jdk: find_jdk()?,
        npm: which("npm").context("npm not found on PATH")?,
    })
}

/// Looks `name` up on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file() && is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// (major, minor) of a Python interpreter, if it runs and has the venv module.
fn python_version(python: &Path) -> Option<(u32, u32)> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, venv, ensurepip; print(sys.version_info[0], sys.version_info[1])",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|s| s.parse::<u32>().ok());
    Some((it.next()??, it.next()??))
}

fn profile_for(version: (u32, u32)) -> Option<Profile> {
    match version {
        (3, m) if m >= 12 => Some(PROFILE_MODERN),
        (3, 11) => Some(PROFILE_PY311),
        _ => None,
    }
}

fn pyenv_root() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("PYENV_ROOT") {
        return Some(root.into());
    }
    if let Ok(out) = Command::new("pyenv")
        .arg("root")
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !s.is_empty() {
            return Some(s.into());
        }
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv"))
}

/// Python selection: `$XTASK_LOCALSTACK_PYTHON`, else pyenv 3.13.0 / 3.12.1 / other 3.13.x /
/// 3.12.x, else a Python 3.11 (fallback profile).
pub fn find_python() -> Result<(PathBuf, Profile)> {
    if let Some(p) = std::env::var_os("XTASK_LOCALSTACK_PYTHON") {
        let p = PathBuf::from(p);
        let v = python_version(&p).with_context(|| {
            format!(
                "XTASK_LOCALSTACK_PYTHON={} does not run or lacks the venv module",
                p.display()
            )
        })?;
        let profile = profile_for(v).with_context(|| {
            format!(
                "XTASK_LOCALSTACK_PYTHON={} is Python {}.{}; LocalStack needs >= 3.12 (3.11 with an older release)",
                p.display(),
                v.0,
                v.1
            )
        })?;
        return Ok((p, profile));
    }
    let mut candidates = Vec::new();
    if let Some(root) = pyenv_root() {
        let versions = root.join("versions");
        candidates.push(versions.join("3.13.0/bin/python3"));
        candidates.push(versions.join("3.12.1/bin/python3"));
        if let Ok(dir) = fs::read_dir(&versions) {
            let mut others: Vec<String> = dir
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("3.13.") || n.starts_with("3.12."))
                .collect();
            others.sort_by_key(|n| std::cmp::Reverse(version_key(n)));
            candidates.extend(others.iter().map(|n| versions.join(n).join("bin/python3")));
        }
    }
    for name in ["python3.13", "python3.12"] {
        candidates.extend(which(name));
    }
    for c in &candidates {
        if c.exists()
            && let Some(v) = python_version(c)
            && profile_for(v) == Some(PROFILE_MODERN)
        {
            return Ok((c.clone(), PROFILE_MODERN));
        }
    }
    let mut fallbacks: Vec<PathBuf> = which("python3.11").into_iter().collect();
    fallbacks.extend(which("python3"));
    for c in &fallbacks {
        if python_version(c) == Some((3, 11)) {
            eprintln!(
                "localstack setup: warning: no Python >= 3.12 found (pyenv 3.13.0/3.12.1); using {} \
                 with the fallback LocalStack {}",
                c.display(),
                PROFILE_PY311.localstack
            );
            return Ok((c.clone(), PROFILE_PY311));
        }
    }
    bail!(
        "no usable Python >= 3.11 found (looked at pyenv 3.13.x/3.12.x, python3.13, python3.12, python3.11, python3)"
    )
}

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// `$XTASK_LOCALSTACK_JDK`, else `/usr/lib/jvm/java-17-openjdk-<arch>`, else another JDK 17/21.
pub fn find_jdk() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("XTASK_LOCALSTACK_JDK") {
        let p = PathBuf::from(p);
        if p.join("bin/java").exists() {
            return Ok(p);
        }
        bail!("XTASK_LOCALSTACK_JDK={} has no bin/java", p.display());
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let jvm = Path::new("/usr/lib/jvm");
    let preferred = jvm.join(format!("java-17-openjdk-{arch}"));
    if preferred.join("bin/java").exists() {
        return Ok(preferred);
    }
    let mut found: Vec<PathBuf> = fs::read_dir(jvm)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    found.sort();
    for major in ["17", "21"] {
        if let Some(p) = found.iter().find(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.split(['-', '.']).any(|part| part == major))
                && p.join("bin/java").exists()
        }) {
            return Ok(p.clone());
        }
    }
    bail!("no JDK 17 under /usr/lib/jvm")
}

// ---------------------------------------------------------------------------
// Steps

fn install_venv(paths: &Paths, pre: &Prereqs, force: bool) -> Result<()> {
    let venv = paths.venv();
    let marker = venv.join(".xtask-installed");
    let want = format!(
        "localstack-core[runtime]=={} {} uploaded-prior-to={} python={}",
        pre.profile.localstack,
        pre.profile.awscli,
        pre.profile.uploaded_prior_to,
        pre.python.display()
    );
    if !force && fs::read_to_string(&marker).is_ok_and(|s| s.trim() == want) {
        return Ok(());
    }
    let t = Instant::now();
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("cannot remove {}", venv.display()))?;
    }
    eprintln!(
        "localstack setup: creating venv with {} (pip install localstack-core {} + {}; takes a few minutes)",
        pre.python.display(),
        pre.profile.localstack,
        pre.profile.awscli
    );
    let result = (|| {
        run(
            Command::new(&pre.python).arg("-m").arg("venv").arg(&venv),
            "python -m venv",
        )?;
        let pip = venv.join("bin/pip");
        // pip >= 26 understands --uploaded-prior-to.
        run(
            Command::new(&pip).args([
                "install",
                "-q",
                "--disable-pip-version-check",
                "--upgrade",
                "pip>=26",
            ]),
            "pip install --upgrade pip (needs PyPI)",
        )?;
        run(
            Command::new(&pip)
                .args(["install", "-q", "--disable-pip-version-check"])
                .args(["--uploaded-prior-to", pre.profile.uploaded_prior_to])
                .arg(format!(
                    "localstack-core[runtime]=={}",
                    pre.profile.localstack
                ))
                .arg(pre.profile.awscli),
            "pip install localstack-core awscli (needs PyPI)",
        )
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&venv);
        return Err(e);
    }
    fs::write(&marker, want)?;
    eprintln!(
        "localstack setup: venv ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A source change of the installed LocalStack: `find` becomes `replace` in `module`.
struct Patch {
    what: &'static str,
    module: &'static str,
    find: &'static str,
    replace: &'static str,
}

/// Fixes, in the installed LocalStack, where its CloudFormation differs from AWS (README:
/// "LocalStack patches"). S3 is not patched: copilot-lite works with LocalStack's S3 as users
/// run it (the e2e scenario `s3-stock` checks the module is as shipped).
const PATCHES: &[Patch] = &[
    // Updating an `AWS::CloudFormation::Stack` resource was not implemented (a warning, and
    // the nested stack kept its old template): update the nested stack with its new
    // TemplateURL and parameters, and wait for it.
    Patch {
        what: "nested stack updates",
        module: "localstack.services.cloudformation.resource_providers.aws_cloudformation_stack",
        find: include_str!("patches/nested_stack_update.orig.py"),
        replace: include_str!("patches/nested_stack_update.py"),
    },
    // A nested stack whose creation failed ends in ROLLBACK_COMPLETE, which the provider did
    // not expect: it raised, and the parent stack logged CREATE_FAILED yet ended
    // CREATE_COMPLETE without rolling back. Fail the `AWS::CloudFormation::Stack` resource with
    // AWS's message ("Embedded stack ... was not successfully created: ..."), so the parent
    // rolls back as on AWS.
    Patch {
        what: "nested stack creation failures",
        module: "localstack.services.cloudformation.resource_providers.aws_cloudformation_stack",
        find: include_str!("patches/nested_stack_create_failure.orig.py"),
        replace: include_str!("patches/nested_stack_create_failure.py"),
    },
    // The default CloudFormation engine keeps its stack sets in a store of its own, but
    // inherits ListStackInstances from the legacy engine, which reads the legacy store: every
    // stack set's instances were "not found". List them from the engine's own store, with
    // AWS's account and region filters and StackSetNotFoundException (how copilot-lite finds
    // the artifact bucket of an application that Copilot created).
    Patch {
        what: "stack set instance listing",
        module: "localstack.services.cloudformation.v2.provider",
        find: include_str!("patches/stack_set_instances.orig.py"),
        replace: include_str!("patches/stack_set_instances.py"),
    },
];

/// Patches applied by earlier versions of this setup and no longer wanted: undone in a venv
/// that has them, so an existing installation runs LocalStack's module as shipped.
const REVERTED: &[Patch] = &[Patch {
    what: "S3 checksum trailers (no longer patched: uploads send a plain checksum header)",
    module: S3_UTILS,
    find: S3_TRAILER_PATCHED,
    replace: S3_TRAILER_STOCK,
}];

/// The LocalStack module that parses S3 checksum headers and trailers.
pub const S3_UTILS: &str = "localstack.services.s3.utils";
/// Its line as shipped: the trailer names are matched by substring, so a trailer
/// `x-amz-checksum-crc32c` (the AWS SDKs' aws-chunked form) counts as CRC32 and CRC32C, and
/// LocalStack refuses the request ("Expecting a single x-amz-checksum- header").
pub const S3_TRAILER_STOCK: &str = r#"if f"x-amz-checksum-{algo.lower()}" in trailing_headers"#;
/// The same line as an earlier version of this setup patched it.
const S3_TRAILER_PATCHED: &str = r#"if f"x-amz-checksum-{algo.lower()}" in [h.strip().lower() for h in trailing_headers.split(",")]"#;

/// The source file of `module` in the LocalStack venv.
pub fn module_file(paths: &Paths, module: &str) -> Result<PathBuf> {
    Ok(PathBuf::from(venv_value(
        paths,
        &format!("import importlib.util; print(importlib.util.find_spec('{module}').origin)"),
    )?))
}

/// Applies [`PATCHES`] and undoes [`REVERTED`]. Idempotent; a LocalStack whose source no
/// longer has the pattern is left alone (with a note).
fn patch_localstack(paths: &Paths) -> Result<()> {
    for undo in REVERTED {
        let file = module_file(paths, undo.module)?;
        let text =
            fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        if text.contains(undo.find) {
            fs::write(&file, text.replace(undo.find, undo.replace))
                .with_context(|| format!("cannot restore {}", file.display()))?;
            let _ = fs::remove_dir_all(file.with_file_name("__pycache__"));
            eprintln!("localstack setup: restored {} ({})", undo.module, undo.what);
        }
    }
    for patch in PATCHES {
        let file = module_file(paths, patch.module)?;
        let text =
            fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        if text.contains(patch.replace) {
            continue;
        }
        if !text.contains(patch.find) {
            eprintln!(
                "localstack setup: note: {} changed; the patch for {} is not applied",
                file.display(),
                patch.what
            );
            continue;
        }
        fs::write(&file, text.replace(patch.find, patch.replace))
            .with_context(|| format!("cannot patch {}", file.display()))?;
        // Stale bytecode must not win over the patched source.
        let _ = fs::remove_dir_all(file.with_file_name("__pycache__"));
        eprintln!(
            "localstack setup: patched {} ({})",
            patch.module, patch.what
        );
    }
    Ok(())
}

fn venv_value(paths: &Paths, code: &str) -> Result<String> {
    let out = Command::new(paths.venv_python())
        .args(["-c", code])
        .output()
        .with_context(|| format!("cannot run {}", paths.venv_python().display()))?;
    if !out.status.success() {
        bail!(
            "`python -c {code:?}` failed in the LocalStack venv: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn install_dynamodb_local(paths: &Paths, ddb_dir: &Path, force: bool) -> Result<()> {
    if !force && ddb_dir.join("DynamoDBLocal.jar").exists() {
        return Ok(());
    }
    let build = paths.build();
    let tgz = format!("{DYNAMODB_LOCAL_NPM}-{DYNAMODB_LOCAL_NPM_VERSION}.tgz");
    eprintln!(
        "localstack setup: fetching DynamoDB Local from npm {DYNAMODB_LOCAL_NPM}@{DYNAMODB_LOCAL_NPM_VERSION}"
    );
    run(
        Command::new("npm")
            .args(["pack", "--silent", "--no-fund", "--no-audit"])
            .arg(format!("{DYNAMODB_LOCAL_NPM}@{DYNAMODB_LOCAL_NPM_VERSION}"))
            .current_dir(&build)
            .stdout(Stdio::null()),
        "npm pack (needs the npm registry)",
    )?;
    let extract = build.join("ddb");
    let _ = fs::remove_dir_all(&extract);
    fs::create_dir_all(&extract)?;
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(build.join(&tgz))
            .arg("-C")
            .arg(&extract)
            .arg("package/emulator"),
        "tar xzf (DynamoDB Local)",
    )?;
    copy_dir(&extract.join("package/emulator"), ddb_dir)?;
    let _ = fs::remove_dir_all(&extract);
    let _ = fs::remove_file(build.join(&tgz));
    if !ddb_dir.join("DynamoDBLocal.jar").exists() {
        bail!("{tgz} did not contain package/emulator/DynamoDBLocal.jar");
    }
    Ok(())
}

fn install_agent_jar(paths: &Paths, pre: &Prereqs, ddb_dir: &Path, force: bool) -> Result<()> {
    let jar_path = ddb_dir.join("ddb-local-loader-0.1.jar");
    if !force && jar_path.exists() {
        return Ok(());
    }
    let dir = paths.build().join("agent");
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("NoopAgent.java"),
        "public class NoopAgent { public static void premain(String a, java.lang.instrument.Instrumentation i) {} }\n",
    )?;
    fs::write(dir.join("manifest.txt"), "Premain-Class: NoopAgent\n")?;
    let bin = pre.jdk.join("bin");
    run(
        Command::new(bin.join("javac"))
            .args(["--release", "11", "NoopAgent.java"])
            .current_dir(&dir),
        "javac NoopAgent.java",
    )?;
    run(
        Command::new(bin.join("jar"))
            .arg("cfm")
            .arg(&jar_path)
            .args(["manifest.txt", "NoopAgent.class"])
            .current_dir(&dir),
        "jar cfm ddb-local-loader-0.1.jar",
    )
}

fn link_java(lib: &Path, jdk: &Path) -> Result<()> {
    // LocalStack wants a Java 21 under lib/java/21; the system JDK 17 runs DynamoDB Local fine.
    let link = lib.join("java/21");
    if fs::read_link(&link).is_ok_and(|t| t == jdk) {
        return Ok(());
    }
    if fs::symlink_metadata(&link).is_ok() {
        if link.is_dir() && fs::read_link(&link).is_err() {
            fs::remove_dir_all(&link)?;
        } else {
            fs::remove_file(&link)?;
        }
    }
    std::os::unix::fs::symlink(jdk, &link)
        .with_context(|| format!("cannot link {} -> {}", link.display(), jdk.display()))
}

fn install_kinesis_local(lib: &Path, version: &str, npm: &Path, force: bool) -> Result<()> {
    let prefix = lib.join("kinesis-local").join(version);
    if !force && prefix.join("node_modules/kinesis-local/main.js").exists() {
        return Ok(());
    }
    eprintln!("localstack setup: npm install kinesis-local@{version}");
    fs::create_dir_all(&prefix)?;
    run(
        Command::new(npm)
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(format!("kinesis-local@{version}")),
        "npm install kinesis-local (needs the npm registry)",
    )
}

fn install_lambda_init(lib: &Path, runtime_version: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = lib
        .join("lambda-runtime")
        .join(runtime_version)
        .join(format!("{}/var/rapid", lambda_arch()));
    fs::create_dir_all(&dir)?;
    let init = dir.join("init");
    if !init.exists() {
        fs::write(&init, "#!/bin/sh\nexit 1\n")?;
        fs::set_permissions(&init, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn lambda_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    }
}

/// `target/localstack/bin` holds only `aws`, so it can go first on a command's PATH
/// without shadowing `python` & co.
fn link_bin(paths: &Paths) -> Result<()> {
    let bin = paths.bin();
    fs::create_dir_all(&bin)?;
    let link = bin.join("aws");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(paths.venv().join("bin/aws"), &link)
        .with_context(|| format!("cannot create {}", link.display()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    entry.path().display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Runs a command with inherited stdio; a failure names the step.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("{what}: cannot run {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
