//! Helpers shared by the end-to-end tests of the binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_support::s3::TestS3;

pub const BUCKET: &str = "artifacts";

/// `svc package` of the seed's `record-svc` to `test`, uploading to [`BUCKET`] (after `svc`).
pub const SVC_PACKAGE_UPLOAD: [&str; 8] = [
    "package",
    "-n",
    "record-svc",
    "-e",
    "test",
    "--upload-assets",
    "--bucket",
    BUCKET,
];

/// An in-process S3 server with [`BUCKET`] created.
pub fn server() -> TestS3 {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    s3
}

/// A copy of `examples/package` in a temporary folder, so that tests can check it is left
/// untouched and can change it freely.
pub fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("examples/package"), dir.path());
    dir
}

/// A copy of `examples/seed` (a Copilot workspace) in a temporary folder.
pub fn seed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("examples/seed"), dir.path());
    dir
}

/// `copilot-lite package --template-file TEMPLATE --s3-bucket BUCKET EXTRA...` against `s3`.
pub fn package(s3: &TestS3, template: &Path, extra: &[&str]) -> Output {
    run(copilot_lite(Some(s3))
        .arg("package")
        .arg("--template-file")
        .arg(template)
        .args(["--s3-bucket", BUCKET])
        .args(extra))
}

/// `copilot-lite svc ARGS...` in `dir` (against `s3` when given).
pub fn svc(dir: &Path, s3: Option<&TestS3>, args: &[&str]) -> Output {
    run(copilot_lite(s3).current_dir(dir).arg("svc").args(args))
}

/// Whether the tests run as root (as CI does): chmod 000 does not stop root from reading.
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `setpriv` arguments that run a command as the unprivileged user `nobody` (uid 65534).
pub const AS_NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// `cmd` as `nobody`, through setpriv, with the same arguments, environment and folder.
pub fn as_nobody(cmd: &Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args(AS_NOBODY)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// The workspace's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command running the built `copilot-lite`, pointed at `s3` (when given), with no AWS
/// configuration leaking in from the machine.
pub fn copilot_lite(s3: Option<&TestS3>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copilot-lite"));
    for var in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "COPILOT_LITE_BUCKET",
        "COPILOT_LITE_NO_CACHE",
        "COPILOT_LITE_CACHE_MIB",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    // The compressed-entry cache of the tests, never the user's.
    cmd.env(
        "COPILOT_LITE_CACHE_DIR",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/cli-cache"),
    );
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("NO_COLOR", "1");
    if let Some(s3) = s3 {
        cmd.envs(s3.env());
    }
    cmd
}

/// Runs and returns the output, printing stderr for the test log.
pub fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("run copilot-lite");
    eprintln!(
        "--- copilot-lite exited with {:?}\n--- stderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Copies a folder tree (regular files and folders).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes: to show that nothing on disk changed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let ft = entry.file_type().unwrap();
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.insert(entry.path(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

/// Names and bytes of the entries of a zip archive, plus their unix modes.
pub fn unzip(bytes: &[u8]) -> BTreeMap<String, (Vec<u8>, Option<u32>)> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip archive");
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut content).unwrap();
        out.insert(
            file.name().unwrap().to_string(),
            (content, file.unix_mode()),
        );
    }
    out
}

/// The regular files of a folder, relative names with `/`, and their bytes.
pub fn folder_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .map(|(path, bytes)| {
            let rel = path.strip_prefix(dir).unwrap();
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            (name, bytes)
        })
        .collect()
}

/// Sets every file's mtime under `dir` to now + 1 day.
pub fn touch_all(dir: &Path) {
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    for path in snapshot(dir).keys() {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(later).unwrap();
    }
}
