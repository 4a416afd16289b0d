//! Where the results are written: `package --output-template-file`, `svc package
//! --output-dir` and standard output, against hostile targets (the input itself, devices,
//! symlinks, FIFOs, closed descriptors, unwritable folders). Every check that runs before
//! uploading counts the requests the in-process S3 server received.
//!
//! CI runs as root, for which permissions do not stop writes; the rows where that matters run
//! the binary a second time as an unprivileged user (`setpriv` to nobody when we are root).

use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;
use test_support::s3::TestS3;

const TEMPLATE: &str =
    "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: code/\n";

/// A folder with `t.yml` (a function whose code is `code/`), readable by everyone (for the
/// runs as nobody).
fn case() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(temp.path()).unwrap();
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(dir.join("code/index.py"), "x = 1\n").unwrap();
    std::fs::write(dir.join("t.yml"), TEMPLATE).unwrap();
    for p in [dir.clone(), dir.join("code")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    (temp, dir)
}

/// `copilot-lite package --template-file <dir>/t.yml --s3-bucket artifacts <extra>`, run as
/// an unprivileged user when `nobody` (through setpriv when we are root; as ourselves when we
/// are not root already), with `umask` set when given.
fn package_cmd(
    s3: &TestS3,
    dir: &Path,
    extra: &[&str],
    nobody: bool,
    umask: Option<&str>,
) -> Command {
    let inner = copilot_lite(Some(s3));
    let mut script = String::new();
    if let Some(mask) = umask {
        script.push_str(&format!("umask {mask}; "));
    }
    script.push_str("exec \"$@\"");
    let mut cmd = if nobody && is_root() {
        let mut c = Command::new("setpriv");
        c.args(AS_NOBODY).args(["sh", "-c"]);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c");
        c
    };
    cmd.arg(&script).arg("sh").arg(inner.get_program());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(dir)
        .args(["package", "--template-file"])
        .arg(dir.join("t.yml"))
        .args(["--s3-bucket", BUCKET])
        .args(extra);
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with(".copilot-lite-"))
        .collect()
}

fn assert_packaged(text: &str) {
    assert!(text.contains("S3Bucket: artifacts"), "not packaged: {text}");
}

#[test]
fn the_input_template_is_never_the_output() {
    let (_t, dir) = case();
    symlink(dir.join("t.yml"), dir.join("link.yml")).unwrap();
    std::fs::hard_link(dir.join("t.yml"), dir.join("hard.yml")).unwrap();
    // The template (by path, through a symlink, a hard link) and an artifact's file.
    for out in ["t.yml", "./t.yml", "link.yml", "hard.yml", "code/index.py"] {
        let s3 = server();
        let output = run(&mut package_cmd(
            &s3,
            &dir,
            &["--output-template-file", out],
            false,
            None,
        ));
        assert_eq!(output.status.code(), Some(1), "{out}");
        assert!(
            stderr(&output).contains("is an input file of this command"),
            "{out}: {}",
            stderr(&output)
        );
        assert!(s3.requests().is_empty(), "{out}: requests were sent");
        assert_eq!(
            std::fs::read_to_string(dir.join("t.yml")).unwrap(),
            TEMPLATE
        );
        assert!(
            std::fs::symlink_metadata(dir.join("link.yml"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}

#[test]
fn dev_null_stays_a_character_device() {
    for nobody in [false, true] {
        let (_t, dir) = case();
        let s3 = server();
        let output = run(&mut package_cmd(
            &s3,
            &dir,
            &["--output-template-file", "/dev/null"],
            nobody,
            None,
        ));
        assert!(output.status.success(), "as nobody: {nobody}");
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
        assert_eq!(meta.permissions().mode() & 0o777, 0o666);
        assert!(s3.write_requests() > 0);
    }
}

#[test]
fn dev_stdout_is_written_in_place() {
    for nobody in [false, true] {
        let (_t, dir) = case();
        let s3 = server();
        let output = run(&mut package_cmd(
            &s3,
            &dir,
            &["--output-template-file", "/dev/stdout"],
            nobody,
            None,
        ));
        assert!(output.status.success(), "as nobody: {nobody}");
        assert_packaged(&stdout(&output));
    }
}

#[test]
fn a_symlink_is_written_through_and_stays_a_link() {
    let (_t, dir) = case();
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/out.yml"), "old\n").unwrap();
    std::fs::set_permissions(
        dir.join("real/out.yml"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("real/out.yml", dir.join("out.yml")).unwrap();
    // A dangling link: its target is created.
    symlink("real/new.yml", dir.join("new.yml")).unwrap();
    for (link, target) in [("out.yml", "real/out.yml"), ("new.yml", "real/new.yml")] {
        let s3 = server();
        let output = run(&mut package_cmd(
            &s3,
            &dir,
            &["--output-template-file", link],
            false,
            Some("022"),
        ));
        assert!(output.status.success());
        assert!(
            std::fs::symlink_metadata(dir.join(link))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{link} is no longer a symlink"
        );
        assert_packaged(&std::fs::read_to_string(dir.join(target)).unwrap());
    }
    assert_eq!(mode(&dir.join("real/out.yml")), 0o640);
    assert_eq!(mode(&dir.join("real/new.yml")), 0o644);
    assert!(leftovers(&dir).is_empty() && leftovers(&dir.join("real")).is_empty());
}

#[test]
fn an_existing_file_keeps_its_mode_and_a_new_one_honours_the_umask() {
    let (_t, dir) = case();
    for (existing, umask, expected) in [
        (Some(0o644), "077", 0o644),
        (Some(0o600), "022", 0o600),
        (Some(0o664), "022", 0o664),
        (None, "022", 0o644),
        (None, "027", 0o640),
        (None, "002", 0o664),
    ] {
        let out = dir.join("out.yml");
        std::fs::remove_file(&out).ok();
        if let Some(m) = existing {
            std::fs::write(&out, "old\n").unwrap();
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(m)).unwrap();
        }
        let s3 = server();
        let output = run(&mut package_cmd(
            &s3,
            &dir,
            &["--output-template-file", "out.yml"],
            false,
            Some(umask),
        ));
        assert!(output.status.success());
        assert_packaged(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(mode(&out), expected, "existing {existing:?}, umask {umask}");
    }
    assert!(leftovers(&dir).is_empty());
}

#[test]
fn a_fifo_is_written_in_place() {
    let (_t, dir) = case();
    let fifo = dir.join("out.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // With nobody reading, the FIFO is refused at once (no hang), before any upload.
    let s3 = server();
    let output = run(&mut package_cmd(
        &s3,
        &dir,
        &["--output-template-file", "out.fifo"],
        false,
        None,
    ));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("is a FIFO that nobody reads"));
    assert!(s3.requests().is_empty());
    // With a reader (opened without blocking before the run), it is written in place.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .unwrap();
    let s3 = server();
    let output = run(&mut package_cmd(
        &s3,
        &dir,
        &["--output-template-file", "out.fifo"],
        false,
        None,
    ));
    assert!(output.status.success());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &reader, &mut text).unwrap();
    assert_packaged(&text);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, 0o4000) // O_NONBLOCK
    }
}

#[test]
fn an_unwritable_target_is_refused_before_uploading() {
    let (_t, dir) = case();
    // For everyone, root included: a folder that cannot exist (its parent is a file).
    let s3 = server();
    let output = run(&mut package_cmd(
        &s3,
        &dir,
        &["--output-template-file", "t.yml/out.yml"],
        false,
        None,
    ));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("output t.yml/out.yml"),
        "{}",
        stderr(&output)
    );
    assert!(s3.requests().is_empty());
    // As nobody: a read-only folder, a read-only file's folder and /dev (for a new file).
    std::fs::create_dir(dir.join("ro")).unwrap();
    std::fs::write(dir.join("ro/out.yml"), "old\n").unwrap();
    std::fs::set_permissions(dir.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    for out in ["ro/new.yml", "ro/out.yml", "/dev/copilot-lite-test.yml"] {
        let s3 = server();
        let output = run(&mut package_cmd(
            &s3,
            &dir,
            &["--output-template-file", out],
            true,
            None,
        ));
        assert_eq!(output.status.code(), Some(1), "{out}");
        assert!(
            stderr(&output).contains("Permission denied"),
            "{out}: {}",
            stderr(&output)
        );
        assert!(s3.requests().is_empty(), "{out}: requests were sent");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("ro/out.yml")).unwrap(),
        "old\n"
    );
    std::fs::set_permissions(dir.join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_closed_stdout_is_an_error_before_uploading() {
    let (_t, dir) = case();
    let s3 = server();
    let mut cmd = copilot_lite(Some(&s3));
    let program = cmd.get_program().to_owned();
    let output = run(Command::new("sh")
        .arg("-c")
        .arg("exec \"$@\" >&-")
        .arg("sh")
        .arg(program)
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .current_dir(&dir)
        .args(["package", "--template-file", "t.yml", "--s3-bucket", BUCKET]));
    let _ = &mut cmd;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("standard output is closed: the result would be lost"),
        "{}",
        stderr(&output)
    );
    assert!(s3.requests().is_empty());
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let (_t, dir) = case();
    let s3 = server();
    let mut child = copilot_lite(Some(&s3))
        .current_dir(&dir)
        .args(["package", "--template-file", "t.yml", "--s3-bucket", BUCKET])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, as `| head` does
    let output: Output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("error"), "{}", stderr(&output));
}

/// A workspace with service `api` and one addon, in `dir`.
fn workspace(dir: &Path) {
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("copilot/.workspace", "application: app\n");
    write(
        "copilot/api/manifest.yml",
        "name: api\ntype: Backend Service\n",
    );
    write(
        "copilot/api/addons/q.yml",
        "Parameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n  Name:\n    Type: String\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n",
    );
}

fn svc_package(dir: &Path, out_dir: &str) -> Output {
    run(copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(dir)
        .args([
            "svc",
            "package",
            "-n",
            "api",
            "-e",
            "test",
            "--output-dir",
            out_dir,
        ]))
}

#[test]
fn output_dir_writes_all_files_or_none() {
    let (_t, dir) = case();
    workspace(&dir);
    let od = dir.join("od");
    std::fs::create_dir(&od).unwrap();
    std::fs::write(od.join("api-test.stack.yml"), "old\n").unwrap();
    // The second file cannot be written (a device that is always full).
    symlink("/dev/full", od.join("api-test.params.json")).unwrap();
    let output = svc_package(&dir, "od");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("api-test.params.json"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(od.join("api-test.stack.yml")).unwrap(),
        "old\n"
    );
    assert!(!od.join("api.addons.stack.yml").exists());
    assert!(leftovers(&od).is_empty(), "{:?}", leftovers(&od));
    // Fixed, all three are written.
    std::fs::remove_file(od.join("api-test.params.json")).unwrap();
    let output = svc_package(&dir, "od");
    assert!(output.status.success());
    assert_ne!(
        std::fs::read_to_string(od.join("api-test.stack.yml")).unwrap(),
        "old\n"
    );
    assert!(od.join("api-test.params.json").is_file());
    assert!(od.join("api.addons.stack.yml").is_file());
}

#[test]
fn output_dir_never_overwrites_an_addon_file() {
    let (_t, dir) = case();
    workspace(&dir);
    let addon = dir.join("copilot/api/addons/api.addons.stack.yml");
    std::fs::rename(dir.join("copilot/api/addons/q.yml"), &addon).unwrap();
    let before = std::fs::read(&addon).unwrap();
    let output = svc_package(&dir, "copilot/api/addons");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("is an input file of this command"));
    assert_eq!(std::fs::read(&addon).unwrap(), before);
    assert!(!dir.join("copilot/api/addons/api-test.stack.yml").exists());
}

#[test]
fn svc_package_to_a_closed_stdout_or_a_closed_pipe() {
    let (_t, dir) = case();
    workspace(&dir);
    let base = copilot_lite(None);
    let envs: Vec<_> = base
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    // Closed: an error, not a lost template (it used to exit 0).
    let output = run(Command::new("sh")
        .arg("-c")
        .arg("exec \"$@\" >&-")
        .arg("sh")
        .arg(base.get_program())
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(&dir)
        .args(["svc", "package", "-n", "api", "-e", "test"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("standard output is closed: the result would be lost"),
        "{}",
        stderr(&output)
    );
    // A reader that went away: quiet, exit 0 (it used to panic).
    let mut child = copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(&dir)
        .args(["svc", "package", "-n", "api", "-e", "test"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}
