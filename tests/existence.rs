//! How a run learns which objects already exist, counted at the in-process S3 server: with
//! many objects, one `ListObjectsV2` per folder instead of one `HeadObject` each; key by key
//! when listing is refused (no `s3:ListBucket`), when the folder holds far more objects than
//! the run checks, or when there are only a few objects; nothing at all with `--force-upload`.

use std::path::Path;

use crate::common::*;
use test_support::s3::{Fault, TestS3};

/// A template with `n` Lambda functions, each with its own code folder.
fn fixture(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut template = String::from("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n");
    for i in 0..n {
        let folder = dir.path().join(format!("fns/f{i:03}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("index.js"),
            format!("exports.handler = async () => {i};\n"),
        )
        .unwrap();
        template.push_str(&format!(
            "  Fn{i:03}:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
             Runtime: nodejs20.x\n      Handler: index.handler\n      \
             Role: arn:aws:iam::123456789012:role/x\n      Code: fns/f{i:03}/\n"
        ));
    }
    std::fs::write(dir.path().join("template.yml"), template).unwrap();
    dir
}

/// Runs `package` with `args`; returns the packaged template after checking the exit code.
fn package(s3: &TestS3, dir: &Path, args: &[&str]) -> String {
    s3.clear_requests();
    let output = run(copilot_lite(Some(s3))
        .arg("package")
        .arg("--template-file")
        .arg(dir.join("template.yml"))
        .args(["--s3-bucket", BUCKET, "--s3-prefix", "assets"])
        .args(args));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output)
}

/// (ListObjectsV2, HeadObject, PutObject) requests since the last [`package`].
fn counts(s3: &TestS3) -> (usize, usize, usize) {
    (
        s3.count_operation("ListObjectsV2"),
        s3.count_operation("HeadObject"),
        s3.count_operation("PutObject"),
    )
}

#[test]
fn many_objects_are_checked_with_one_listing() {
    let s3 = server();
    let dir = fixture(40);

    let cold = package(&s3, dir.path(), &[]);
    assert_eq!(counts(&s3), (1, 0, 40));
    assert_eq!(s3.keys(BUCKET).len(), 40);

    let warm = package(&s3, dir.path(), &[]);
    assert_eq!(counts(&s3), (1, 0, 0));
    assert_eq!(warm, cold);

    std::fs::write(dir.path().join("fns/f007/index.js"), "changed").unwrap();
    let changed = package(&s3, dir.path(), &[]);
    assert_eq!(counts(&s3), (1, 0, 1));
    assert_ne!(changed, cold);
    assert_eq!(s3.keys(BUCKET).len(), 41);
}

#[test]
fn a_refused_listing_falls_back_to_head_object() {
    let s3 = server();
    let dir = fixture(40);
    let cold = package(&s3, dir.path(), &[]);
    s3.inject_fault(Fault::always("ListObjectsV2", 403, "AccessDenied"));

    let warm = package(&s3, dir.path(), &[]);
    assert_eq!(counts(&s3), (1, 40, 0));
    assert_eq!(warm, cold);

    std::fs::write(dir.path().join("fns/f007/index.js"), "changed").unwrap();
    package(&s3, dir.path(), &[]);
    assert_eq!(counts(&s3), (1, 40, 1));
}

#[test]
fn a_crowded_folder_is_not_listed_to_its_end() {
    let s3 = server();
    // 40 keys are worth two pages of 1,000 objects; the folder holds 10,000 others (ten pages):
    // the listing stops at the third page (budget + 1) and the keys are checked one by one. A
    // listing to the end would take ten requests.
    for i in 0..10_000 {
        s3.put_object_blocking(BUCKET, &format!("assets/old-{i:05}"), b"");
    }
    let dir = fixture(40);
    package(&s3, dir.path(), &[]);
    let (lists, heads, puts) = counts(&s3);
    assert_eq!(lists, 3, "listings before giving up");
    assert_eq!((heads, puts), (40, 40));
}

#[test]
fn few_objects_are_checked_one_by_one() {
    let s3 = server();
    let dir = fixture(5);
    package(&s3, dir.path(), &[]);
    assert_eq!(counts(&s3), (0, 5, 5));
}

#[test]
fn force_upload_checks_nothing() {
    let s3 = server();
    let dir = fixture(40);
    package(&s3, dir.path(), &[]);
    package(&s3, dir.path(), &["--force-upload"]);
    assert_eq!(counts(&s3), (0, 0, 40));
}
