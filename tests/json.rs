//! `--output json` of `package` and `svc package` (and what `svc deploy` says without AWS):
//! standard output is one JSON document, parsed here, whose artifacts name objects that exist
//! in the bucket with their sizes; the human messages stay on standard error.
//! (`svc deploy --output json` against CloudFormation: the e2e scenario `svc-json`.)

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;
use test_support::s3::TestS3;

/// Standard output as the one JSON document it must be: a single line (then a newline)
/// holding a JSON object of schema version 1 for `command`.
fn document(out: &std::process::Output, command: &str) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    let text = stdout(out);
    assert!(text.ends_with('\n'), "{text:?}");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["version"], 1, "{doc}");
    assert_eq!(doc["command"], command, "{doc}");
    doc
}

fn artifacts(doc: &Value) -> &Vec<Value> {
    doc["artifacts"].as_array().expect("artifacts is a list")
}

fn string<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {v}"))
}

fn same_file(a: &str, b: &Path) -> bool {
    std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
}

/// Every artifact names an object of the bucket that exists, with its exact size, with
/// `status`; returns `(resource, property, kind, key)` in document order.
fn check_objects(s3: &TestS3, doc: &Value, status: &str) -> Vec<(String, String, String, String)> {
    artifacts(doc)
        .iter()
        .map(|a| {
            let key = string(a, "key");
            let object = s3
                .object(BUCKET, key)
                .unwrap_or_else(|| panic!("{key} is not in the bucket: {:?}", s3.keys(BUCKET)));
            assert_eq!(a["bytes"].as_u64(), Some(object.len() as u64), "{a}");
            assert_eq!(a["bucket"], BUCKET);
            assert_eq!(string(a, "s3_uri"), format!("s3://{BUCKET}/{key}"));
            assert_eq!(a["status"], status, "{a}");
            assert!(Path::new(string(a, "path")).is_absolute(), "{a}");
            assert!(Path::new(string(a, "path")).exists(), "{a}");
            (
                string(a, "resource").to_owned(),
                string(a, "property").to_owned(),
                string(a, "kind").to_owned(),
                key.to_owned(),
            )
        })
        .collect()
}

#[test]
fn package_without_output_file_puts_the_template_in_the_document() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("template.yml");
    let out = package(&s3, &template, &["--output", "json"]);
    let doc = document(&out, "package");
    assert!(doc.get("deploy").is_none(), "{doc}");
    assert!(
        stderr(&out).contains("Uploaded 3 objects"),
        "the summary stays on stderr: {}",
        stderr(&out)
    );

    let seen = check_objects(&s3, &doc, "uploaded");
    let what: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(r, p, k, _)| (r.as_str(), p.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        what,
        [
            ("HelloFunction", "Code", "artifact"),
            ("Workflow", "DefinitionS3Location", "artifact"),
            ("Queues", "TemplateURL", "template"),
        ]
    );
    let original = std::fs::read_to_string(&template).unwrap();
    for (a, (written, path)) in artifacts(&doc).iter().zip([
        ("Code: functions/hello/", "functions/hello"),
        ("DefinitionS3Location:", "definitions/workflow.json"),
        ("TemplateURL: nested/queues.yml", "nested/queues.yml"),
    ]) {
        assert!(same_file(string(a, "template"), &template), "{a}");
        assert_eq!(
            a["line"].as_u64(),
            line_of(&original, written).map(|l| l as u64),
            "{a}"
        );
        assert!(same_file(string(a, "path"), &dir.path().join(path)), "{a}");
    }
    // The raw file is stored as it is: its size is the file's.
    let definition = std::fs::metadata(dir.path().join("definitions/workflow.json")).unwrap();
    assert_eq!(artifacts(&doc)[1]["bytes"].as_u64(), Some(definition.len()));

    // The packaged template is in the document, exactly what text output prints.
    let templates = doc["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 1, "{doc}");
    assert_eq!(templates[0]["kind"], "packaged");
    assert_eq!(templates[0]["path"], Value::Null);
    assert_eq!(templates[0]["url"], Value::Null);
    let text_out = package(&s3, &template, &[]);
    assert!(text_out.status.success());
    assert_eq!(string(&templates[0], "text"), stdout(&text_out));
    let code_key = &seen[0].3;
    // Quoted or not, as the key's first character decides: the renderer quotes a scalar that
    // starts with a digit, which some YAML loader could read as a number.
    let printed = stdout(&text_out);
    assert!(
        printed.lines().any(|line| line
            .trim()
            .strip_prefix("S3Key:")
            .is_some_and(|v| v.trim().trim_matches('"') == code_key.as_str())),
        "{code_key} is the key the template names: {printed}"
    );

    // Second run: every object is present, same keys and sizes, nothing sent.
    s3.clear_requests();
    let again = document(&package(&s3, &template, &["--output", "json"]), "package");
    assert_eq!(s3.write_requests(), 0);
    assert_eq!(check_objects(&s3, &again, "present"), seen);
    for (a, b) in artifacts(&again).iter().zip(artifacts(&doc)) {
        assert_eq!(a["bytes"], b["bytes"]);
    }
}

#[test]
fn package_with_output_file_names_it_and_prints_only_the_document() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("template.yml");
    let written = dir.path().join("out/packaged.yml");
    let out = package(
        &s3,
        &template,
        &[
            "--output",
            "json",
            "--output-template-file",
            written.to_str().unwrap(),
        ],
    );
    let doc = document(&out, "package");
    assert!(
        stderr(&out).contains("Successfully packaged artifacts and wrote output template to file"),
        "{}",
        stderr(&out)
    );
    let templates = doc["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 1, "{doc}");
    assert_eq!(templates[0]["kind"], "packaged");
    assert_eq!(
        templates[0]["text"],
        Value::Null,
        "the template is in the file"
    );
    assert!(same_file(string(&templates[0], "path"), &written));
    let packaged = std::fs::read_to_string(&written).unwrap();
    for (_, _, kind, key) in check_objects(&s3, &doc, "uploaded") {
        if kind == "artifact" {
            assert!(packaged.contains(&key), "{key} in\n{packaged}");
        }
    }
}

#[test]
fn a_key_named_twice_is_two_artifacts() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/index.js"), "exports.h = 1;\n").unwrap();
    let template = dir.path().join("t.yml");
    std::fs::write(
        &template,
        "Resources:\n  A:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: src\n  B:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./src/\n",
    )
    .unwrap();
    let doc = document(&package(&s3, &template, &["--output", "json"]), "package");
    let seen = check_objects(&s3, &doc, "uploaded");
    assert_eq!(seen.len(), 2, "{doc}");
    assert_eq!((seen[0].0.as_str(), seen[1].0.as_str()), ("A", "B"));
    assert_eq!(seen[0].3, seen[1].3, "one object");
    assert_eq!(s3.keys(BUCKET).len(), 1);
    assert_eq!(
        (
            artifacts(&doc)[0]["line"].as_u64(),
            artifacts(&doc)[1]["line"].as_u64()
        ),
        (Some(5), Some(9))
    );
}

#[test]
fn text_output_is_unchanged_and_json_output_refuses_stdout_as_template_file() {
    let s3 = server();
    let dir = example();
    let template = dir.path().join("template.yml");
    let text = package(&s3, &template, &["--output", "text"]);
    assert!(text.status.success());
    assert!(stdout(&text).starts_with("AWSTemplateFormatVersion"));
    let default = package(&s3, &template, &[]);
    assert_eq!(stdout(&default), stdout(&text));

    let s3 = server();
    let out = package(
        &s3,
        &template,
        &["--output", "json", "--output-template-file", "/dev/stdout"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("is standard output, where --output json writes its document"),
        "{}",
        stderr(&out)
    );
    assert!(s3.keys(BUCKET).is_empty(), "refused before any upload");
}

#[test]
fn a_failure_prints_no_document() {
    let s3 = TestS3::start_blocking();
    let dir = example();
    let out = package(&s3, &dir.path().join("template.yml"), &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "no bucket {BUCKET}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("error"), "{}", stderr(&out));
}

/// `svc package --upload-assets --bucket artifacts --output json` in `dir`, plus `extra`.
fn svc_package(dir: &Path, s3: &TestS3, extra: &[&str]) -> std::process::Output {
    let mut args = SVC_PACKAGE_UPLOAD.to_vec();
    args.extend_from_slice(extra);
    svc(dir, Some(s3), &args)
}

/// The key of an uploaded template's URL (`<endpoint>/<bucket>/<key>` with a custom endpoint).
fn url_key(s3: &TestS3, url: &str) -> String {
    let prefix = format!("{}/{BUCKET}/", s3.endpoint);
    url.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} starts with {prefix}"))
        .to_owned()
}

#[test]
fn svc_package_reports_the_addons_artifacts_and_templates() {
    let s3 = server();
    let dir = seed();
    let addon = dir.path().join("copilot/record-svc/addons/ddb.yml");
    let out = svc_package(dir.path(), &s3, &["--output", "json"]);
    let doc = document(&out, "svc package");
    let seen = check_objects(&s3, &doc, "uploaded");
    assert_eq!(seen.len(), 1, "{doc}");
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str(), seen[0].2.as_str()),
        ("recordProcessor", "Code", "artifact")
    );
    assert!(seen[0].3.starts_with("manual/addons/record-svc/assets/"));
    let a = &artifacts(&doc)[0];
    assert!(same_file(string(a, "template"), &addon), "{a}");
    let text = std::fs::read_to_string(&addon).unwrap();
    assert_eq!(
        a["line"].as_u64(),
        line_of(&text, "Code: lambdas/record-processor/").map(|l| l as u64)
    );
    assert!(same_file(
        string(a, "path"),
        &dir.path().join("lambdas/record-processor")
    ));

    // The packaged addons template: its text (it was not written to a file) and the URL it
    // was uploaded to, which holds that very text.
    let templates = doc["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 1, "{doc}");
    let addons = &templates[0];
    assert_eq!(addons["kind"], "addons");
    assert_eq!(addons["path"], Value::Null);
    let key = url_key(&s3, string(addons, "url"));
    let uploaded = s3
        .object(BUCKET, &key)
        .expect("the addons template is uploaded");
    assert_eq!(string(addons, "text").as_bytes(), uploaded.as_slice());
    assert!(string(addons, "text").contains(&seen[0].3));

    // Again: present.
    let again = document(
        &svc_package(dir.path(), &s3, &["--output", "json"]),
        "svc package",
    );
    assert_eq!(check_objects(&s3, &again, "present"), seen);
}

#[test]
fn svc_package_output_dir_lists_the_files_written() {
    let s3 = server();
    let dir = seed();
    let out_dir = dir.path().join("out");
    let out = svc_package(
        dir.path(),
        &s3,
        &[
            "--output",
            "json",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    let doc = document(&out, "svc package");
    check_objects(&s3, &doc, "uploaded");
    let templates = doc["templates"].as_array().unwrap();
    let kinds: Vec<&str> = templates.iter().map(|t| string(t, "kind")).collect();
    assert_eq!(kinds, ["workload", "parameters", "addons"]);
    let files = [
        "record-svc-test.stack.yml",
        "record-svc-test.params.json",
        "record-svc.addons.stack.yml",
    ];
    for (t, file) in templates.iter().zip(files) {
        assert!(same_file(string(t, "path"), &out_dir.join(file)), "{t}");
        assert_eq!(t["text"], Value::Null, "{t}");
    }
    assert_eq!(templates[0]["url"], Value::Null);
    // The parameters file names the addons template by the URL the document gives.
    let params: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join(files[1])).unwrap()).unwrap();
    assert_eq!(
        params["Parameters"]["AddonsTemplateURL"], templates[2]["url"],
        "{params}"
    );
    let key = url_key(&s3, string(&templates[2], "url"));
    assert_eq!(
        s3.object(BUCKET, &key).unwrap(),
        std::fs::read(out_dir.join(files[2])).unwrap()
    );
}

#[test]
fn svc_package_of_merged_addons_names_each_file() {
    let s3 = server();
    let dir = seed();
    let second = dir.path().join("copilot/record-svc/addons/more.yml");
    std::fs::write(
        &second,
        "Resources:\n  # a second function\n  another:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: lambdas/example/\n",
    )
    .unwrap();
    let doc = document(
        &svc_package(dir.path(), &s3, &["--output", "json"]),
        "svc package",
    );
    check_objects(&s3, &doc, "uploaded");
    let at: Vec<(String, PathBuf, u64)> = artifacts(&doc)
        .iter()
        .map(|a| {
            (
                string(a, "resource").to_owned(),
                PathBuf::from(string(a, "template")),
                a["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let ddb = dir.path().join("copilot/record-svc/addons/ddb.yml");
    let ddb_line = line_of(
        &std::fs::read_to_string(&ddb).unwrap(),
        "Code: lambdas/record-processor/",
    )
    .unwrap() as u64;
    assert_eq!(at.len(), 2, "{doc}");
    for (resource, file, line) in &at {
        let (want_file, want_line) = match resource.as_str() {
            "recordProcessor" => (&ddb, ddb_line),
            "another" => (&second, 6),
            other => panic!("unexpected resource {other}"),
        };
        assert!(
            same_file(&file.display().to_string(), want_file),
            "{resource}: {file:?}"
        );
        assert_eq!(*line, want_line, "{resource}");
    }
}

#[test]
fn svc_package_without_upload_holds_the_addons_text() {
    let dir = seed();
    let out = run(copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(dir.path())
        .args(["svc", "package", "-n", "record-svc", "-e", "test"])
        .args(["--output", "json"]));
    let doc = document(&out, "svc package");
    assert!(artifacts(&doc).is_empty(), "nothing uploaded: {doc}");
    let addons = &doc["templates"][0];
    assert_eq!(addons["url"], Value::Null);
    assert_eq!(
        string(addons, "text"),
        std::fs::read_to_string(dir.path().join("copilot/record-svc/addons/ddb.yml")).unwrap()
    );
}

#[test]
fn svc_deploy_json_without_addons_and_with_diff() {
    let dir = seed();
    std::fs::remove_dir_all(dir.path().join("copilot/record-svc/addons")).unwrap();
    let out = run(copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(dir.path())
        .args(["svc", "deploy", "-n", "record-svc", "-e", "test"])
        .args(["--output", "json"]));
    let doc = document(&out, "svc deploy");
    assert_eq!(doc["deploy"]["outcome"], "no_addons", "{doc}");
    assert_eq!(doc["deploy"]["stack"], "seed-demo-test-record-svc");
    assert_eq!(doc["deploy"]["outputs"], Value::Null);
    assert_eq!(doc["deploy"]["change_set"], Value::Null);
    assert_eq!(doc["deploy"]["functions_updated"], serde_json::json!([]));
    assert!(artifacts(&doc).is_empty() && doc["templates"] == serde_json::json!([]));
    assert!(stderr(&out).contains("nothing to deploy"));

    let out = run(copilot_lite(None)
        .current_dir(dir.path())
        .args(["svc", "deploy", "-n", "record-svc", "-e", "test"])
        .args(["--output", "json", "--diff"]));
    assert_eq!(out.status.code(), Some(2), "an error in --diff mode");
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("cannot be combined with --output json"),
        "{}",
        stderr(&out)
    );
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}
