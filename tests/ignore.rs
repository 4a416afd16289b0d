//! Ignore files (`.copilotignore`) end to end: `svc package` (the workspace root's file and the
//! artifact folder's) and `package` (the artifact folder's only), against the in-process S3
//! server.

use std::path::Path;

use crate::common::*;
use test_support::s3::TestS3;

fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A copy of `examples/seed`, whose `record-svc` packages `lambdas/record-processor/`, with
/// files to exclude and the two ignore files.
fn seed_with_ignore_files() -> tempfile::TempDir {
    let dir = seed();
    let d = dir.path();
    write(
        d,
        ".copilotignore",
        "# the workspace's rules\n*.log\nnode_modules/\n",
    );
    write(d, "lambdas/record-processor/.copilotignore", "test/\n");
    write(d, "lambdas/record-processor/debug.log", "noise\n");
    write(
        d,
        "lambdas/record-processor/lib/util.js",
        "module.exports = 1;\n",
    );
    write(
        d,
        "lambdas/record-processor/node_modules/dep/index.js",
        "dep\n",
    );
    write(d, "lambdas/record-processor/test/index.test.js", "test\n");
    dir
}

fn svc_package(dir: &Path, s3: &TestS3) -> std::process::Output {
    run(copilot_lite(Some(s3))
        .current_dir(dir)
        .args(["-v", "svc"])
        .args(SVC_PACKAGE_UPLOAD))
}

/// The key of the (only) zipped asset of the packaged addons.
fn asset_key(packaged: &str) -> &str {
    let (_, rest) = packaged
        .split_once("S3Key: ")
        .unwrap_or_else(|| panic!("S3Key in\n{packaged}"));
    rest.split_whitespace().next().unwrap().trim_matches('"')
}

fn zip_names(s3: &TestS3, key: &str) -> Vec<String> {
    let zip = s3
        .object(BUCKET, key)
        .unwrap_or_else(|| panic!("{key} uploaded: {:?}", s3.keys(BUCKET)));
    unzip(&zip).into_keys().collect()
}

#[test]
fn svc_package_leaves_out_what_the_ignore_files_exclude() {
    let s3 = server();
    let dir = seed_with_ignore_files();
    let out = svc_package(dir.path(), &s3);
    assert!(out.status.success());
    let packaged = stdout(&out);
    let key = asset_key(&packaged).to_owned();
    assert_eq!(zip_names(&s3, &key), ["index.js", "lib/util.js"]);

    // -v: one line per ignore file.
    let err = stderr(&out);
    let art = dir.path().join("lambdas/record-processor");
    for line in [
        format!(
            "{} excluded 1 file and 1 folder from {}",
            dir.path().join(".copilotignore").display(),
            art.display()
        ),
        format!(
            "{} excluded 0 files and 1 folder from {}",
            art.join(".copilotignore").display(),
            art.display()
        ),
    ] {
        assert!(err.contains(&line), "{line:?} in\n{err}");
    }

    // Touching and changing ignored files: the same key, nothing uploaded.
    touch_all(dir.path());
    write(
        dir.path(),
        "lambdas/record-processor/debug.log",
        "more noise\n",
    );
    write(
        dir.path(),
        "lambdas/record-processor/node_modules/dep/new.js",
        "new\n",
    );
    write(
        dir.path(),
        "lambdas/record-processor/test/index.test.js",
        "changed\n",
    );
    s3.clear_requests();
    let again = svc_package(dir.path(), &s3);
    assert!(again.status.success());
    assert_eq!(stdout(&again), packaged);
    assert_eq!(s3.write_requests(), 0, "{:?}", s3.counts_by_operation());

    // A rule that changes nothing in the zip keeps the key; one that changes it does not.
    write(
        dir.path(),
        ".copilotignore",
        "*.log\nnode_modules/\n*.nothing\n",
    );
    let same = svc_package(dir.path(), &s3);
    assert_eq!(stdout(&same), packaged);
    write(dir.path(), ".copilotignore", "node_modules/\n");
    let changed = svc_package(dir.path(), &s3);
    assert!(changed.status.success());
    let new_key = asset_key(&stdout(&changed)).to_owned();
    assert_ne!(new_key, key);
    assert_eq!(
        zip_names(&s3, &new_key),
        ["debug.log", "index.js", "lib/util.js"]
    );
}

#[test]
fn svc_package_without_ignore_files_is_unchanged() {
    let s3 = server();
    let dir = seed();
    let plain = svc_package(dir.path(), &s3);
    assert!(plain.status.success());
    assert!(!stderr(&plain).contains("excluded"), "{}", stderr(&plain));
    // An ignore file that excludes nothing: the same packaged text, reported.
    write(dir.path(), ".copilotignore", "*.log\n");
    let with_rules = svc_package(dir.path(), &s3);
    assert_eq!(stdout(&with_rules), stdout(&plain));
    assert!(stderr(&with_rules).contains("excluded 0 files from"));
}

/// `package` has no workspace: the artifact folder's own file applies, not one beside the
/// template.
#[test]
fn package_uses_the_artifact_folders_file_only() {
    let s3 = server();
    let dir = example();
    let hello = dir.path().join("functions/hello");
    let before = folder_files(&hello);
    write(dir.path(), ".copilotignore", "*.js\n");
    write(&hello, ".copilotignore", "*.md\n");
    write(&hello, "NOTES.md", "notes\n");
    let template = dir.path().join("template.yml");
    let out = run(copilot_lite(Some(&s3))
        .arg("-v")
        .arg("package")
        .arg("--template-file")
        .arg(&template)
        .args(["--s3-bucket", BUCKET]));
    assert!(out.status.success());
    let packaged = stdout(&out);
    let names = zip_names(&s3, asset_key(&packaged));
    assert_eq!(names, before.into_keys().collect::<Vec<_>>());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} excluded 1 file from {}",
            hello.join(".copilotignore").display(),
            hello.display()
        )),
        "{err}"
    );
    assert!(!err.contains(&format!(
        "{} excluded",
        dir.path().join(".copilotignore").display()
    )));
}
