//! Through the packager API against the in-process S3 server: every rewritten property that
//! names a local path is reported ([`packager::Reference`]), one per property (a folder named
//! twice is two references to one object), with the object's key, its size in the bucket, and
//! whether this run sent it.

use std::path::Path;

mod common;

use packager::ReferenceKind;
use test_support::s3::TestS3;
use upload::{Uploaded, Uploader};

const BUCKET: &str = "artifacts";

const ROOT: &str = "\
Resources:
  First:
    Type: AWS::Lambda::Function
    Properties:
      Code: src/
  Second:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
  Nested:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: nested.yml
";

const NESTED: &str = "\
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionS3Location: flow.json
";

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

async fn package(dir: &Path, uploader: &Uploader) -> packager::Packaged {
    let prepared = common::prepared(dir, ROOT, false).await;
    prepared.upload(uploader, &()).await.expect("uploaded")
}

#[tokio::test]
async fn one_reference_per_property_with_key_size_and_outcome() {
    let s3 = TestS3::start().await;
    s3.create_bucket(BUCKET).await;
    let conn = upload::Connection {
        sdk: Some(s3.sdk_config()),
        ..Default::default()
    };
    let uploader = Uploader::connect(&conn, BUCKET, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    write(&dir, "template.yml", ROOT);
    write(&dir, "nested.yml", NESTED);
    write(&dir, "flow.json", "{\"StartAt\": \"x\"}\n");
    write(&dir, "src/index.js", "exports.handler = async () => 1;\n");

    let first = package(&dir, &uploader).await;
    let seen: Vec<(&str, &str, ReferenceKind, &Path)> = first
        .references
        .iter()
        .map(|r| {
            (
                r.logical_id.as_str(),
                r.property.as_str(),
                r.kind,
                r.path.as_path(),
            )
        })
        .collect();
    // The nested template's properties first (it is packaged before its parent), then the
    // root's in document order.
    let (src, flow, nested) = (
        dir.join("src"),
        dir.join("flow.json"),
        dir.join("nested.yml"),
    );
    assert_eq!(
        seen,
        [
            (
                "Machine",
                "DefinitionS3Location",
                ReferenceKind::Artifact,
                flow.as_path()
            ),
            ("First", "Code", ReferenceKind::Artifact, src.as_path()),
            ("Second", "CodeUri", ReferenceKind::Artifact, src.as_path()),
            (
                "Nested",
                "TemplateURL",
                ReferenceKind::Template,
                nested.as_path()
            ),
        ]
    );
    let refs = &first.references;
    assert_eq!(refs[0].template, dir.join("nested.yml"));
    assert_eq!(refs[1].template, dir.join("template.yml"));
    assert_eq!((refs[1].position.line, refs[2].position.line), (5, 9));
    assert_eq!(refs[1].key, refs[2].key, "one folder, one object");
    assert_eq!(first.uploads.len(), 3, "three distinct objects");
    for r in refs {
        let stored = s3
            .object(BUCKET, &r.key)
            .expect("the key exists in the bucket");
        assert!(r.key.starts_with("p/"), "{}", r.key);
        assert_eq!(r.bytes, stored.len() as u64, "{}", r.key);
        assert_eq!(r.outcome, Uploaded::Sent { bytes: r.bytes });
    }

    // Again: everything is present, with the sizes S3 reports.
    let second = package(&dir, &uploader).await;
    assert_eq!(second.references.len(), 4);
    for (again, before) in second.references.iter().zip(refs) {
        assert_eq!(again.key, before.key);
        assert_eq!(again.outcome, Uploaded::Skipped);
        assert_eq!(again.bytes, before.bytes);
    }
    assert!(second.uploads.iter().all(|u| u.bytes > 0));
}
