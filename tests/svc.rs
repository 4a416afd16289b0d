//! `copilot-lite svc ls|package` end to end on a copy of the seed workspace, against an
//! in-process S3 server. (`svc deploy` needs CloudFormation: `cargo xtask e2e` covers it.)

use std::path::Path;

use crate::common::*;
use test_support::s3::TestS3;

#[test]
fn ls_lists_the_services_from_any_subfolder() {
    let dir = seed();
    let out = svc(&dir.path().join("lambdas/example"), None, &["ls"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("record-svc") && text.contains("example-service"),
        "{text}"
    );
    assert!(text.contains("Backend Service"));
}

#[test]
fn outside_a_workspace_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = svc(dir.path(), None, &["package", "-n", "api", "-e", "test"]);
    assert_eq!(out.status.code(), Some(1));
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: not in a copilot workspace (no copilot/ folder in {} or its parents)",
            canonical.display()
        )) || err.contains(&format!(
            "error: not in a copilot workspace (no copilot/ folder in {} or its parents)",
            dir.path().display()
        )),
        "{err}"
    );
}

#[test]
fn package_without_upload_keeps_local_paths_and_contacts_nothing() {
    let dir = seed();
    let before = snapshot(dir.path());
    let out_dir = dir.path().join("out");
    let out = run(copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(dir.path())
        .args([
            "svc",
            "package",
            "-n",
            "record-svc",
            "-e",
            "test",
            "--output-dir",
        ])
        .arg(&out_dir));
    assert!(out.status.success());
    let addons = std::fs::read_to_string(out_dir.join("record-svc.addons.stack.yml")).unwrap();
    assert_eq!(
        addons,
        std::fs::read_to_string(dir.path().join("copilot/record-svc/addons/ddb.yml")).unwrap()
    );
    let params: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("record-svc-test.params.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(params["Parameters"]["AddonsTemplateURL"], "");
    assert_eq!(params["Tags"]["copilot-service"], "record-svc");
    let stack = std::fs::read_to_string(out_dir.join("record-svc-test.stack.yml")).unwrap();
    let stack = cfn_yaml::Template::parse(Path::new("stack.yml"), stack).unwrap();
    assert!(
        stack
            .root()
            .get_path(&["Resources", "AddonsStack"])
            .is_some()
    );
    let mut after = snapshot(dir.path());
    after.retain(|p, _| !p.starts_with(&out_dir));
    assert_eq!(after, before);
}

#[test]
fn resource_tags_go_to_the_parameters_file_and_a_reserved_key_is_refused() {
    let dir = seed();
    let out_dir = dir.path().join("out");
    let package = |tags: &str| {
        run(copilot_lite(None)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .current_dir(dir.path())
            .args(["svc", "package", "-n", "record-svc", "-e", "test"])
            .args(["--resource-tags", tags, "--output-dir"])
            .arg(&out_dir))
    };
    let out = package("team=core,cost-center=42");
    assert!(out.status.success(), "{}", stderr(&out));
    let params: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("record-svc-test.params.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(params["Tags"]["team"], "core");
    assert_eq!(params["Tags"]["cost-center"], "42");
    assert_eq!(params["Tags"]["copilot-lite:managed"], "true");
    std::fs::remove_dir_all(&out_dir).unwrap();
    for (tags, key) in [
        (
            "team=core,copilot-lite:managed=false",
            "copilot-lite:managed",
        ),
        ("copilot-service=other", "copilot-service"),
        (
            "aws:cloudformation:stack-name=x",
            "aws:cloudformation:stack-name",
        ),
    ] {
        let out = package(tags);
        assert_eq!(out.status.code(), Some(1), "{tags}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--resource-tags: tag key {key:?} is reserved: ")),
            "{tags}: {err}"
        );
        assert!(!out_dir.exists(), "{tags}: output written after a refusal");
    }
}

#[test]
fn package_with_upload_assets_rewrites_against_the_workspace_root() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let dir = seed();
    let out = svc(dir.path(), Some(&s3), &SVC_PACKAGE_UPLOAD);
    assert!(out.status.success());
    let packaged = stdout(&out);
    assert!(
        packaged.contains("      Code:\n        S3Bucket: artifacts\n        S3Key: "),
        "{packaged}"
    );
    assert!(packaged.contains("# local path to the record processing lambda"));
    assert!(packaged.contains("Role: !GetAtt \"recordProcessorRole.Arn\""));
    assert!(packaged.contains("EventSourceArn: !GetAtt records.StreamArn"));
    let keys = s3.keys(BUCKET);
    let asset = keys
        .iter()
        .find(|k| k.starts_with("manual/addons/record-svc/assets/"))
        .unwrap_or_else(|| panic!("{keys:?}"));
    let zip = unzip(&s3.object(BUCKET, asset).unwrap());
    let folder = folder_files(&dir.path().join("lambdas/record-processor"));
    assert_eq!(
        zip.into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect::<std::collections::BTreeMap<_, _>>(),
        folder
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("manual/addons/record-svc/") && k.ends_with(".yml")),
        "the packaged addons template is uploaded: {keys:?}"
    );

    // Same workspace, second run: nothing is written.
    s3.clear_requests();
    let again = svc(
        dir.path(),
        Some(&s3),
        &[
            "package",
            "-n",
            "record-svc",
            "-e",
            "test",
            "--upload-assets",
            "--bucket",
            BUCKET,
        ],
    );
    assert_eq!(stdout(&again), packaged);
    assert_eq!(s3.write_requests(), 0);
}

#[test]
fn merged_addons_report_problems_in_the_original_files() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let dir = seed();
    let second = dir.path().join("copilot/record-svc/addons/more.yml");
    std::fs::write(
        &second,
        "Resources:\n  # a second function\n  another:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: lambdas/missing/\n",
    )
    .unwrap();
    let out = svc(dir.path(), Some(&s3), &SVC_PACKAGE_UPLOAD);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:6:13: resource another, property Code: file or folder does not exist",
            second.display()
        )),
        "{err}"
    );
    assert!(s3.requests().is_empty());
}

#[test]
fn conflicting_addon_files_name_both_files() {
    let dir = seed();
    std::fs::write(
        dir.path().join("copilot/record-svc/addons/zz.yml"),
        "Resources:\n  records:\n    Type: AWS::SQS::Queue\n",
    )
    .unwrap();
    let out = svc(
        dir.path(),
        None,
        &["package", "-n", "record-svc", "-e", "test"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("resource \"records\" defined in \"ddb.yml\""),
        "{err}"
    );
    // Both places are the conflicting values (as Copilot reports them), not the keys.
    assert!(
        err.contains("zz.yml:3:5: resource \"records\" defined in \"ddb.yml\" at Ln 16, Col 5 is different than in \"zz.yml\" at Ln 3, Col 5"),
        "{err}"
    );
}

#[test]
fn a_path_leaving_the_workspace_is_refused() {
    let dir = seed();
    let addons = dir.path().join("copilot/example-service/addons/lambda.yml");
    let text = std::fs::read_to_string(&addons)
        .unwrap()
        .replace("Code: lambdas/example/", "Code: ../outside/");
    std::fs::write(&addons, text).unwrap();
    let out = svc(
        dir.path(),
        None,
        &["package", "-n", "example-service", "-e", "test"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("leaves the workspace root"),
        "{}",
        stderr(&out)
    );
}

/// Addons with anchors: what `svc package` prints and what it uploads as the addons template
/// hold no anchor, alias or merge key (CloudFormation refuses them); merged properties are
/// packaged, and a problem in a merged value is reported where its text is written.
#[test]
fn addons_with_aliases_are_unrolled_in_what_is_printed_and_uploaded() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let dir = seed();
    let more = dir.path().join("copilot/record-svc/addons/more.yml");
    let text = "\
Resources:
  first:
    Type: AWS::Lambda::Function
    Properties: &fn
      Code: lambdas/record-processor/
      Handler: index.handler
      Runtime: nodejs20.x
      Role: !GetAtt recordProcessorRole.Arn
  second:
    Type: AWS::Lambda::Function
    Properties:
      <<: *fn
      Handler: other.handler
";
    std::fs::write(&more, text).unwrap();
    let args = [
        "package",
        "-n",
        "record-svc",
        "-e",
        "test",
        "--upload-assets",
        "--bucket",
        BUCKET,
    ];
    let out = svc(dir.path(), Some(&s3), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let packaged = stdout(&out);
    let keys = s3.keys(BUCKET);
    let template_key = keys
        .iter()
        .find(|k| k.starts_with("manual/addons/record-svc/") && k.ends_with(".yml"))
        .unwrap_or_else(|| panic!("{keys:?}"));
    let uploaded = String::from_utf8(s3.object(BUCKET, template_key).unwrap()).unwrap();
    for text in [&packaged, &uploaded] {
        assert!(!text.contains("&fn") && !text.contains("*fn") && !text.contains("<<:"));
        assert!(
            text.contains(
                "  second:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code:\n        \
                 S3Bucket: artifacts\n"
            ),
            "{text}"
        );
        assert!(text.contains("      Handler: other.handler\n"), "{text}");
    }

    // A bad path under the anchor is reported in more.yml, at the line where it is written,
    // once per resource that uses it.
    std::fs::write(
        &more,
        text.replace("lambdas/record-processor/", "lambdas/gone/"),
    )
    .unwrap();
    s3.clear_requests();
    let out = svc(dir.path(), Some(&s3), &args);
    assert!(!out.status.success());
    let err = stderr(&out);
    for id in ["first", "second"] {
        assert!(
            err.contains(&format!(
                "{}:5:13: resource {id}, property Code: file or folder does not exist",
                more.display()
            )),
            "{err}"
        );
    }
    assert!(s3.requests().is_empty());
}

#[test]
fn hotswap_and_force_refuse_the_flags_they_cannot_go_with() {
    let dir = seed();
    let base = ["deploy", "-n", "record-svc", "-e", "test"];
    for extra in [
        &["--hotswap", "--diff"][..],
        &["--hotswap", "--detach"],
        &["--hotswap", "--force"],
        &["--force", "--diff"],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = svc(dir.path(), None, &args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn watch_checks_its_target_before_watching() {
    let dir = seed();
    // A name Copilot refuses, and a service that does not exist: an error at once, not a watch.
    let out = svc(dir.path(), None, &["watch", "-n", "Bad_Name", "-e", "test"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("-n/--name"), "{}", stderr(&out));
    let out = svc(
        dir.path(),
        None,
        &["watch", "-n", "no-such-svc", "-e", "test"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-svc"), "{}", stderr(&out));
}
