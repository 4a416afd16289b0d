//! `copilot-lite package` end to end: the built binary against an in-process S3 server.

use std::path::Path;

use crate::common::*;
use test_support::s3::TestS3;

fn key_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in\n{text}"))
        + marker.len();
    text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_matches(['"', '\''])
}

#[test]
fn packages_the_example_and_keeps_everything_else() {
    let s3 = server();
    let dir = example();
    let before = snapshot(dir.path());
    let template = dir.path().join("template.yml");
    let out = package(&s3, &template, &[]);
    assert!(out.status.success());
    let packaged = stdout(&out);
    let original = std::fs::read_to_string(&template).unwrap();

    // The folder became a zip with exactly the folder's files.
    let code_key = key_after(&packaged, "S3Key: ");
    let block = format!("      Code:\n        S3Bucket: {BUCKET}\n        S3Key: ");
    assert!(
        packaged.contains(&block),
        "block mapping indented like its siblings:\n{packaged}"
    );
    let zip = s3.object(BUCKET, code_key).unwrap_or_else(|| {
        panic!(
            "code {code_key} uploaded; keys {:?}\n{packaged}",
            s3.keys(BUCKET)
        )
    });
    let entries = unzip(&zip);
    let expected = folder_files(&dir.path().join("functions/hello"));
    assert_eq!(
        entries
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>(),
        expected
    );
    assert!(
        entries
            .values()
            .all(|(_, mode)| mode.is_some_and(|m| m & 0o444 == 0o444))
    );

    // The raw file is uploaded as it is, keyed with its extension, as a Bucket/Key mapping.
    let definition_key = key_after(&packaged, "\n        Key: ");
    assert!(definition_key.ends_with(".json"), "{definition_key}");
    assert_eq!(
        s3.object(BUCKET, definition_key).unwrap(),
        std::fs::read(dir.path().join("definitions/workflow.json")).unwrap()
    );

    // The nested template is uploaded and referenced by URL (endpoint form for a custom endpoint).
    let url = key_after(&packaged, "TemplateURL: ");
    let prefix = format!("{}/{BUCKET}/", s3.endpoint);
    let nested_key = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} starts with {prefix}"));
    assert!(nested_key.ends_with(".yml"));
    assert_eq!(
        s3.object(BUCKET, nested_key).unwrap(),
        std::fs::read(dir.path().join("nested/queues.yml")).unwrap(),
        "a nested template without artifacts is uploaded unchanged"
    );

    // Everything that was not rewritten is byte-identical: compare line by line with the
    // rewritten lines taken out.
    let kept = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains("Code:") && !l.contains("S3Bucket:") && !l.contains("S3Key:"))
            .filter(|l| !l.contains("DefinitionS3Location") && !l.contains("TemplateURL"))
            .filter(|l| {
                !l.trim_start().starts_with("Bucket:") && !l.trim_start().starts_with("Key:")
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(kept(&packaged), kept(&original));
    assert!(packaged.contains("Role: !GetAtt HelloRole.Arn"));
    assert!(packaged.contains("# A function whose code is a local folder"));

    assert_eq!(
        snapshot(dir.path()),
        before,
        "the templates and artifacts on disk are unchanged"
    );
    assert_eq!(s3.open_multipart_uploads(), 0);
}

#[test]
fn runs_are_deterministic_and_never_upload_twice() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("template.yml");
    let first = package(&s3, &template, &[]);
    assert!(first.status.success());
    let keys = s3.keys(BUCKET);
    assert_eq!(keys.len(), 3, "{keys:?}");

    // Warm run: same output, nothing written.
    s3.clear_requests();
    let second = package(&s3, &template, &[]);
    assert!(second.status.success());
    assert_eq!(stdout(&second), stdout(&first));
    assert_eq!(s3.write_requests(), 0, "{:?}", s3.counts_by_operation());

    // Touch every file: same keys, nothing written.
    touch_all(dir.path());
    s3.clear_requests();
    let touched = package(&s3, &template, &[]);
    assert_eq!(stdout(&touched), stdout(&first));
    assert_eq!(s3.write_requests(), 0);

    // The same tree somewhere else: same keys.
    let elsewhere = example();
    let moved = package(&s3, &elsewhere.path().join("template.yml"), &[]);
    assert_eq!(stdout(&moved), stdout(&first));
    assert_eq!(s3.keys(BUCKET), keys);

    // --force-upload sends everything again, with the same keys.
    s3.clear_requests();
    let forced = package(&s3, &template, &["--force-upload"]);
    assert_eq!(stdout(&forced), stdout(&first));
    assert!(s3.write_requests() >= 3);

    // One changed byte: a new key for that artifact only.
    std::fs::write(
        dir.path().join("functions/hello/index.js"),
        "exports.handler = async () => 2;\n",
    )
    .unwrap();
    let changed = package(&s3, &template, &[]);
    assert_ne!(stdout(&changed), stdout(&first));
    assert_eq!(s3.keys(BUCKET).len(), 4);
}

#[test]
fn writes_the_output_file_and_json() {
    let s3 = server();
    let dir = example();
    let out_file = dir.path().join("out/packaged.json");
    let out = package(
        &s3,
        &dir.path().join("template.yml"),
        &[
            "--use-json",
            "--s3-prefix",
            "team/app/",
            "--output-template-file",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert!(stdout(&out).is_empty());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let code = &json["Resources"]["HelloFunction"]["Properties"]["Code"];
    assert_eq!(code["S3Bucket"], BUCKET);
    assert!(code["S3Key"].as_str().unwrap().starts_with("team/app/"));
    assert_eq!(
        json["Resources"]["HelloFunction"]["Properties"]["Role"],
        serde_json::json!({"Fn::GetAtt": ["HelloRole", "Arn"]})
    );
    assert!(
        s3.keys(BUCKET)
            .iter()
            .all(|k| k.starts_with("team/app/") && !k.contains("//"))
    );
}

#[test]
fn invalid_input_reports_every_problem_and_uploads_nothing() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("template.yml");
    std::fs::write(
        &template,
        concat!(
            "Resources:\n",
            "  Missing:\n",
            "    Type: AWS::Lambda::Function\n",
            "    Properties:\n",
            "      Code: functions/nope/\n",
            "  Good:\n",
            "    Type: AWS::Lambda::Function\n",
            "    Properties:\n",
            "      Code: functions/hello/\n",
            "  FolderForFile:\n",
            "    Type: AWS::CloudFormation::Stack\n",
            "    Properties:\n",
            "      TemplateURL: nested\n",
            "  BrokenNested:\n",
            "    Type: AWS::CloudFormation::Stack\n",
            "    Properties:\n",
            "      TemplateURL: nested/broken.yml\n",
            "  Number:\n",
            "    Type: AWS::Glue::Job\n",
            "    Properties:\n",
            "      Command:\n",
            "        ScriptLocation: 42\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nested/broken.yml"),
        "Resources:\n  X: [unclosed\n",
    )
    .unwrap();
    let before = snapshot(dir.path());
    let out = package(&s3, &template, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let tpl = template.display().to_string();
    let positions: Vec<usize> = [
        format!("{tpl}:5:13: resource Missing, property Code: file or folder does not exist"),
        format!("{tpl}:13:20: resource FolderForFile, property TemplateURL: expected a template file, found a folder"),
        "broken.yml:".to_string(),
        format!("{tpl}:22:25: resource Number, property Command.ScriptLocation: expected a path string, found a number"),
    ]
    .iter()
    .map(|needle| err.find(needle.as_str()).unwrap_or_else(|| panic!("{needle:?} in\n{err}")))
    .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in document order: {positions:?}"
    );
    assert!(
        err.contains("4 problems found; nothing was uploaded"),
        "{err}"
    );
    assert!(err.contains(&format!(
        "resolved to {}",
        dir.path().join("functions/nope").display()
    )));
    assert!(
        s3.requests().is_empty(),
        "no request at all reached S3: {:?}",
        s3.counts_by_operation()
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_yaml_error_in_the_template_is_located() {
    let dir = example();
    let template = dir.path().join("template.yml");
    std::fs::write(&template, "Resources:\n  A:\n    Type: [x\n").unwrap();
    let out = run(copilot_lite(None)
        .args(["package", "--s3-bucket", BUCKET, "--template-file"])
        .arg(&template));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // The unclosed `[` is found at the end of the file: line 4, column 1.
    assert!(
        err.contains(&format!(
            "{}:4:1: while parsing a flow sequence, expected ',' or ']'",
            template.display()
        )),
        "{err}"
    );
}

#[test]
fn nothing_to_upload_means_no_s3_at_all() {
    let dir = example();
    let template = dir.path().join("plain.yml");
    let text = "# no local artifacts\nResources:\n  Q:\n    Type: AWS::SQS::Queue  # trailing comment\n    Properties: {QueueName: !Sub '${AWS::StackName}-q'}\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {S3Bucket: b, S3Key: k}\n";
    std::fs::write(&template, text).unwrap();
    // An endpoint nothing listens on: any request would fail.
    let out = run(copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["package", "--s3-bucket", BUCKET, "--template-file"])
        .arg(&template));
    assert!(out.status.success());
    assert_eq!(stdout(&out), text);
}

#[test]
fn a_symlink_leaving_the_template_folder_is_refused() {
    let s3 = server();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "do not ship").unwrap();
    let dir = example();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("functions/hello/leak.txt"),
    )
    .unwrap();
    let out = package(&s3, &dir.path().join("template.yml"), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("leak.txt"), "{err}");
    assert!(err.contains("HelloFunction"), "{err}");
    assert_eq!(s3.write_requests(), 0);
}

#[test]
fn a_missing_bucket_is_a_clear_error() {
    let s3 = TestS3::start_blocking();
    let dir = example();
    let out = package(&s3, &dir.path().join("template.yml"), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(BUCKET) && err.contains("does not exist"),
        "{err}"
    );
}

/// One resource per row of the registry, each pointing at a local file or folder: every row
/// is found, uploaded and rewritten in its own form.
#[test]
fn every_registry_row_is_packaged_in_its_form() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("code")).unwrap();
    std::fs::write(dir.path().join("code/main.py"), "print('hi')\n").unwrap();
    std::fs::write(dir.path().join("file.txt"), "a file\n").unwrap();
    std::fs::write(
        dir.path().join("child.yml"),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
    )
    .unwrap();
    let mut text = String::from("Resources:\n");
    let mut expected = Vec::new();
    for (i, rule) in registry::RULES.iter().enumerate() {
        if rule.resource_type == registry::INCLUDE
            || rule.resource_type == registry::SERVERLESS_REPO
        {
            continue;
        }
        let value = if rule.recursive {
            "child.yml"
        } else if rule.file_only {
            "file.txt"
        } else {
            "code/"
        };
        let keys: Vec<&str> = rule
            .property
            .split('.')
            .map(|k| if k == "*" { "Any" } else { k })
            .collect();
        text.push_str(&format!(
            "  R{i}:\n    Type: {}\n    Properties:\n",
            rule.resource_type
        ));
        for (depth, key) in keys.iter().enumerate() {
            text.push_str(&"  ".repeat(depth + 3));
            text.push_str(key);
            if depth + 1 == keys.len() {
                text.push_str(&format!(": {value}\n"));
            } else {
                text.push_str(":\n");
            }
        }
        expected.push((
            format!("R{i}"),
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            rule.form,
        ));
    }
    text.push_str("  Inc:\n    Type: AWS::SQS::Queue\n    Properties:\n      Fn::Transform:\n        Name: AWS::Include\n        Parameters:\n          Location: file.txt\n");
    let template = dir.path().join("all.yml");
    std::fs::write(&template, &text).unwrap();
    let out = package(&s3, &template, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let packaged = cfn_yaml::Template::parse(Path::new("out.yml"), stdout(&out)).unwrap();
    for (id, keys, form) in expected {
        let mut path = vec!["Resources", id.as_str(), "Properties"];
        path.extend(keys.iter().map(String::as_str));
        let node = packaged
            .root()
            .get_path(&path)
            .unwrap_or_else(|| panic!("{path:?}"));
        match form {
            registry::Form::Uri => {
                let v = node.as_scalar().unwrap();
                let key = v
                    .strip_prefix(&format!("s3://{BUCKET}/"))
                    .unwrap_or_else(|| panic!("{id}: {v}"));
                assert!(s3.object(BUCKET, key).is_some(), "{id}: {key} uploaded");
            }
            registry::Form::Https => {
                let v = node.as_scalar().unwrap();
                assert!(
                    v.starts_with(&format!("{}/{BUCKET}/", s3.endpoint)),
                    "{id}: {v}"
                );
            }
            registry::Form::Map {
                bucket,
                key,
                version,
            } => {
                // An upload never has a version.
                if let Some(version) = version {
                    assert!(node.get(version).is_none(), "{id}: no {version}");
                }
                assert_eq!(
                    node.get(bucket).and_then(|n| n.as_scalar()),
                    Some(BUCKET),
                    "{id}"
                );
                let k = node.get(key).and_then(|n| n.as_scalar()).unwrap();
                assert!(s3.object(BUCKET, k).is_some(), "{id}: {k} uploaded");
            }
        }
    }
    let include = packaged
        .root()
        .get_path(&[
            "Resources",
            "Inc",
            "Properties",
            "Fn::Transform",
            "Parameters",
            "Location",
        ])
        .and_then(|n| n.as_scalar())
        .unwrap();
    assert!(
        include.starts_with(&format!("s3://{BUCKET}/")) && include.ends_with(".txt"),
        "{include}"
    );
    // One zip for code/ (force-zip or not, a folder is the same zip), one raw file.txt, one
    // single-file zip is not needed here, one nested template.
    assert_eq!(s3.keys(BUCKET).len(), 3, "{:?}", s3.keys(BUCKET));
}

#[test]
fn nested_template_cycles_are_errors_and_shared_children_upload_once() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    let stack = |url: &str| {
        format!(
            "  S{}:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: {url}\n",
            url.len()
        )
    };
    std::fs::write(
        dir.path().join("root.yml"),
        format!("Resources:\n{}", stack("a.yml")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yml"),
        format!("Resources:\n{}", stack("root.yml")),
    )
    .unwrap();
    let out = package(&s3, &dir.path().join("root.yml"), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nested template cycle"),
        "{}",
        stderr(&out)
    );
    assert!(s3.requests().is_empty());

    // A diamond is not a cycle: the shared child is packaged and uploaded once.
    std::fs::write(
        dir.path().join("leaf.yml"),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yml"),
        format!("Resources:\n{}", stack("leaf.yml")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bb.yml"),
        format!("Resources:\n{}", stack("leaf.yml")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("root.yml"),
        format!("Resources:\n{}{}", stack("a.yml"), stack("bb.yml")),
    )
    .unwrap();
    let out = package(&s3, &dir.path().join("root.yml"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // a.yml and bb.yml render to the same text (same leaf URL), so: leaf + one parent.
    assert_eq!(s3.keys(BUCKET).len(), 2, "{:?}", s3.keys(BUCKET));
    assert_eq!(s3.count_operation("PutObject"), 2);
}

#[test]
fn single_files_are_zipped_where_an_archive_is_needed_and_zips_are_kept() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bootstrap"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("bootstrap"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // An existing archive: uploaded as it is, not wrapped in another zip.
    let zipped = s3_zip_of("handler.py", b"def handler(e, c): pass\n");
    std::fs::write(dir.path().join("layer.zip"), &zipped).unwrap();
    std::fs::write(
        dir.path().join("t.yml"),
        concat!(
            "Resources:\n",
            "  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: bootstrap\n",
            "  Layer:\n    Type: AWS::Lambda::LayerVersion\n    Properties:\n      Content: layer.zip\n",
        ),
    )
    .unwrap();
    let out = package(&s3, &dir.path().join("t.yml"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let packaged = cfn_yaml::Template::parse(Path::new("o.yml"), stdout(&out)).unwrap();
    let key = |id: &str, prop: &str| {
        packaged
            .root()
            .get_path(&["Resources", id, "Properties", prop, "S3Key"])
            .and_then(|n| n.as_scalar())
            .unwrap()
            .to_string()
    };
    let code = unzip(&s3.object(BUCKET, &key("Fn", "Code")).unwrap());
    let (bytes, mode) = &code["bootstrap"];
    assert_eq!(bytes, b"#!/bin/sh\necho hi\n");
    assert_eq!(mode.unwrap() & 0o777, 0o755, "the executable bit is kept");
    assert_eq!(code.len(), 1);
    assert_eq!(s3.object(BUCKET, &key("Layer", "Content")).unwrap(), zipped);
}

/// A small zip archive made by the `zip` crate (a different writer than ours).
fn s3_zip_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut buf);
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, content).unwrap();
    w.finish().unwrap();
    buf.into_inner()
}

const ALIASED: &str = "\
Parameters:
  Stage: &param
    Type: String
    Default: test
  Other: *param
Resources:
  First:
    Type: AWS::Lambda::Function
    Properties: &props
      Code: &code functions/hello
      Handler: index.handler
      Runtime: python3.12
      Role: arn:aws:iam::123456789012:role/r
  Second:
    Type: AWS::Lambda::Function
    Properties:
      <<: *props
      Handler: other.handler
  Third:
    Type: AWS::Lambda::Function
    Properties:
      Code: *code
      Handler: *code
      Runtime: python3.12
      Role: arn:aws:iam::123456789012:role/r
";

/// CloudFormation refuses YAML aliases, so they are unrolled; and an alias is packaged (or not)
/// where it is used: merged properties are packaged, an aliased path is packaged, and a
/// property that aliases a packaged path keeps the path.
#[test]
fn aliases_and_merge_keys_are_unrolled_and_packaged_where_they_are_used() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("aliased.yml");
    std::fs::write(&template, ALIASED).unwrap();
    let out = package(&s3, &template, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let packaged = stdout(&out);
    for gone in [
        "&param", "*param", "&props", "*props", "&code", "*code", "<<:",
    ] {
        assert!(!packaged.contains(gone), "{gone} left in\n{packaged}");
    }
    // One folder, one object, used by the three functions.
    assert_eq!(s3.keys(BUCKET).len(), 1, "{:?}", s3.keys(BUCKET));
    let key = &s3.keys(BUCKET)[0];
    let key_line = packaged
        .lines()
        .find(|l| l.trim_start().starts_with("S3Key: "))
        .unwrap_or_else(|| panic!("an S3Key in\n{packaged}"));
    assert_eq!(
        key_line.trim_start()["S3Key: ".len()..].trim_matches('"'),
        key
    );
    let code = format!("      Code:\n        S3Bucket: {BUCKET}\n{key_line}\n");
    assert_eq!(packaged.matches(&code).count(), 3, "{packaged}");
    assert!(
        packaged.contains(&format!(
            "  Second:\n    Type: AWS::Lambda::Function\n    Properties:\n{code}      \
             Runtime: python3.12\n      Role: arn:aws:iam::123456789012:role/r\n      \
             Handler: other.handler\n"
        )),
        "the merged entries take the merge key's place; explicit keys win:\n{packaged}"
    );
    assert!(
        packaged.contains("      Handler: functions/hello\n"),
        "Handler aliases the path but is not an artifact property:\n{packaged}"
    );
    assert!(
        packaged.contains("  Other:\n    Type: String\n    Default: test\n"),
        "{packaged}"
    );

    // The JSON output reads the same.
    let out = package(&s3, &template, &["--use-json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &json["Resources"];
    let map = serde_json::json!({"S3Bucket": BUCKET, "S3Key": key});
    for f in ["First", "Second", "Third"] {
        assert_eq!(r[f]["Properties"]["Code"], map, "{f}");
    }
    assert_eq!(r["Second"]["Properties"]["Handler"], "other.handler");
    assert_eq!(r["Third"]["Properties"]["Handler"], "functions/hello");
    assert_eq!(json["Parameters"]["Other"], json["Parameters"]["Stage"]);
    assert!(!stdout(&out).contains("<<"));
    // The template on disk is untouched.
    assert_eq!(std::fs::read_to_string(&template).unwrap(), ALIASED);
}

/// `--use-json` reads plain scalars as YAML 1.1 does (CloudFormation, aws-cli): `on` is true.
#[test]
fn json_output_reads_yaml_1_1_scalars() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("scalars.yml");
    std::fs::write(
        &template,
        "Resources:\n  Pool:\n    Type: AWS::Cognito::UserPool\n    Properties:\n      \
         Policies:\n        PasswordPolicy:\n          RequireUppercase: on\n          \
         RequireLowercase: No\n          MinimumLength: 010\n          Other: 'on'\n",
    )
    .unwrap();
    let out = package(&s3, &template, &["--use-json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["Resources"]["Pool"]["Properties"]["Policies"]["PasswordPolicy"],
        serde_json::json!({
            "RequireUppercase": true,
            "RequireLowercase": false,
            "MinimumLength": 8,
            "Other": "on"
        })
    );
}

/// A user-written `s3://` location on a mapping-form property becomes the mapping aws-cli
/// writes (version key only where the property has one); on a string-form property it stays
/// as written; nothing is uploaded for either, next to a local folder that is.
#[test]
fn s3_urls_become_mappings_where_the_property_needs_one() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("code")).unwrap();
    std::fs::write(
        dir.path().join("code/index.py"),
        "def handler(e, c): pass\n",
    )
    .unwrap();
    let template = concat!(
        "Resources:\n",
        "  Local:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: code/\n",
        "  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n",
        "      Code: s3://other-bucket/fn.zip?versionId=3HL4kqtJ # pre-built\n",
        "  App:\n    Type: AWS::ElasticBeanstalk::ApplicationVersion\n    Properties:\n",
        "      ApplicationName: app\n      SourceBundle: \"s3://other-bucket/app.zip?versionId=7\"\n",
        "  Sam:\n    Type: AWS::Serverless::Function\n    Properties:\n",
        "      CodeUri: s3://other-bucket/sam.zip?versionId=9\n",
    );
    std::fs::write(dir.path().join("t.yml"), template).unwrap();
    let out = package(&s3, &dir.path().join("t.yml"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let packaged = stdout(&out);
    assert!(
        packaged.contains(concat!(
            "      Code:\n        S3Bucket: other-bucket\n        S3Key: fn.zip\n",
            "        S3ObjectVersion: \"3HL4kqtJ\" # pre-built\n",
        )),
        "{packaged}"
    );
    assert!(
        packaged.contains(
            "      SourceBundle:\n        S3Bucket: other-bucket\n        S3Key: app.zip\n"
        ),
        "no version key on SourceBundle: the version is dropped, as aws-cli does\n{packaged}"
    );
    assert!(packaged.contains("      CodeUri: s3://other-bucket/sam.zip?versionId=9\n"));
    // Only the local folder was uploaded, to our bucket.
    let keys = s3.keys(BUCKET);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(key_after(&packaged, "S3Key: "), keys[0]);
    assert_eq!(s3.write_requests(), 1);
}

/// `--expected-bucket-owner` is sent with every S3 request (checked on the requests, not only on
/// the outcome): a bucket of that name owned by another account would refuse them.
#[test]
fn the_expected_bucket_owner_goes_with_every_request() {
    let s3 = server();
    let dir = example();
    let out = package(
        &s3,
        &dir.path().join("template.yml"),
        &["--expected-bucket-owner", "123456789012"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = s3.requests();
    let operations: std::collections::BTreeSet<_> = requests.iter().map(|r| r.operation).collect();
    assert!(
        operations.contains("PutObject") && operations.contains("HeadObject"),
        "{operations:?}"
    );
    for r in &requests {
        assert_eq!(
            r.header("x-amz-expected-bucket-owner"),
            Some("123456789012"),
            "{} {} {}",
            r.operation,
            r.method,
            r.path
        );
    }
    // Without the flag, no owner is sent (nothing to pin for `package`).
    s3.clear_requests();
    let out = package(&s3, &dir.path().join("template.yml"), &["--force-upload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!s3.requests().is_empty());
    assert!(
        s3.requests()
            .iter()
            .all(|r| r.header("x-amz-expected-bucket-owner").is_none())
    );
}

/// The `.pack` files in a cache folder.
fn packs(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |items| {
        items
            .filter(|i| {
                i.as_ref()
                    .is_ok_and(|i| i.path().extension().is_some_and(|e| e == "pack"))
            })
            .count()
    })
}

#[test]
fn the_compressed_entry_cache_is_on_by_default_and_can_be_turned_off() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("template.yml");
    let run_with = |cache: &Path, extra: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = copilot_lite(Some(&s3));
        cmd.env("COPILOT_LITE_CACHE_DIR", cache)
            .arg("package")
            .arg("--template-file")
            .arg(&template)
            .args(["--s3-bucket", BUCKET, "--force-upload"])
            .args(extra);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let on = tempfile::tempdir().unwrap();
    let first = run_with(on.path(), &[], None);
    assert!(packs(on.path()) > 0, "the zips' entries are kept");
    // From the cache: the same zips (same keys).
    assert_eq!(run_with(on.path(), &[], None), first);
    for (extra, env) in [
        (&["--no-cache"][..], None),
        (&[][..], Some(("COPILOT_LITE_NO_CACHE", "1"))),
    ] {
        let off = tempfile::tempdir().unwrap();
        assert_eq!(run_with(off.path(), extra, env), first);
        assert_eq!(packs(off.path()), 0, "{extra:?} {env:?}");
    }
}
