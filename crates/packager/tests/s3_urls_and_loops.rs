//! Through the packager API (`prepare`, `render_unchanged`): user-written `s3://` locations on
//! mapping-form properties become the mapping `aws cloudformation package` writes, and
//! malformed `Fn::ForEach::` loops are problems reported before anything is uploaded.

use std::path::Path;

use packager::{Base, Error, Options, prepare};

fn options(dir: &Path) -> Options {
    Options {
        base: Base::TemplateDir,
        root: dir.to_path_buf(),
        confine: false,
        key_prefix: String::new(),
        jobs: 2,
        json: false,
        ignore_file: None,
        cache: None,
        force: false,
    }
}

fn prepared(text: &str, json: bool) -> Result<packager::Prepared, Error> {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = if text.trim_start().starts_with('{') {
        "t.json"
    } else {
        "t.yml"
    };
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    let template = cfn_yaml::Template::parse(&path, text.to_string()).expect("parses");
    let mut options = options(dir.path());
    options.json = json;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(prepare(template, options))
}

/// The packaged text of a template that needs no upload.
fn packaged(text: &str) -> String {
    let prepared = prepared(text, false).unwrap_or_else(|e| panic!("{e}: {e:?}"));
    assert!(prepared.is_empty(), "nothing to upload");
    prepared
        .render_unchanged()
        .expect("renders")
        .expect("nothing to upload")
}

/// `Resources.R` of `resource_type` with the dotted `property` set to `value`.
fn resource(resource_type: &str, property: &str, value: &str) -> String {
    let mut yaml = format!("Resources:\n  R:\n    Type: {resource_type}\n    Properties:\n");
    let parts: Vec<&str> = property.split('.').collect();
    for (depth, key) in parts.iter().enumerate() {
        yaml.push_str(&"  ".repeat(depth + 3));
        yaml.push_str(key);
        yaml.push(':');
        if depth + 1 == parts.len() {
            yaml.push(' ');
            yaml.push_str(value);
        }
        yaml.push('\n');
    }
    yaml
}

/// Every mapping-form row, with and without a version, and what aws-cli writes for it
/// (`parse_s3_url` with the row's bucket, key and version names): the version only where the
/// row has a version key (ElasticBeanstalk has none: the version is dropped).
#[test]
fn s3_urls_on_mapping_rows_become_mappings() {
    #[rustfmt::skip]
    let rows: [(&str, &str, &str, &str, Option<&str>); 8] = [
        ("AWS::Lambda::Function", "Code", "S3Bucket", "S3Key", Some("S3ObjectVersion")),
        ("AWS::Lambda::LayerVersion", "Content", "S3Bucket", "S3Key", Some("S3ObjectVersion")),
        ("AWS::Serverless::StateMachine", "DefinitionUri", "Bucket", "Key", Some("Version")),
        ("AWS::ApiGateway::RestApi", "BodyS3Location", "Bucket", "Key", Some("Version")),
        ("AWS::ApiGatewayV2::Api", "BodyS3Location", "Bucket", "Key", Some("Version")),
        ("AWS::ElasticBeanstalk::ApplicationVersion", "SourceBundle", "S3Bucket", "S3Key", None),
        ("AWS::StepFunctions::StateMachine", "DefinitionS3Location", "Bucket", "Key", Some("Version")),
        ("AWS::CodeCommit::Repository", "Code.S3", "Bucket", "Key", Some("ObjectVersion")),
    ];
    for (resource_type, property, bucket, key, version) in rows {
        let depth = property.split('.').count();
        let indent = "  ".repeat(depth + 2);
        let last = property.rsplit('.').next().unwrap_or(property);

        let text = resource(resource_type, property, "s3://my-bucket/path/to/obj.zip");
        let out = packaged(&text);
        let want = format!(
            "{indent}{last}:\n{indent}  {bucket}: my-bucket\n{indent}  {key}: path/to/obj.zip\n"
        );
        assert!(out.ends_with(&want), "{resource_type}: {want:?} in\n{out}");
        let written = format!("{indent}{last}: s3://my-bucket/path/to/obj.zip\n");
        assert_eq!(
            out.replace(&want, ""),
            text.replace(&written, ""),
            "nothing else changes"
        );

        let text = resource(resource_type, property, "'s3://b/k.zip?versionId=Ab.3_x'");
        let out = packaged(&text);
        let mut want = format!("{indent}{last}:\n{indent}  {bucket}: b\n{indent}  {key}: k.zip\n");
        if let Some(version) = version {
            want.push_str(&format!("{indent}  {version}: Ab.3_x\n"));
        }
        assert!(out.ends_with(&want), "{resource_type}: {want:?} in\n{out}");
    }
}

/// On string-form properties, `s3://` URLs stay exactly as written; so do intrinsics and
/// mappings on mapping-form properties.
#[test]
fn s3_urls_elsewhere_stay_as_written() {
    let text = concat!(
        "Resources:\n",
        "  F:\n    Type: AWS::Serverless::Function\n    Properties:\n",
        "      CodeUri: s3://b/k?versionId=1\n",
        "  G:\n    Type: AWS::Glue::Job\n    Properties:\n",
        "      Command:\n        ScriptLocation: s3://b/script.py\n",
        "  L:\n    Type: AWS::Lambda::Function\n    Properties:\n",
        "      Code: !Sub s3://${AWS::Region}/k\n",
        "  M:\n    Type: AWS::Lambda::Function\n    Properties:\n",
        "      Code: {S3Bucket: b, S3Key: k}\n",
        "  N:\n    Type: AWS::Other::Thing\n    Properties:\n",
        "      Code: s3://b/k\n",
    );
    assert_eq!(packaged(text), text);
}

/// Flow context, JSON, and `--use-json` of a YAML template: the mapping in the right syntax.
#[test]
fn s3_urls_in_flow_and_json() {
    let flow = "Resources:\n  F: {Type: AWS::Lambda::Function, Properties: {Code: 's3://b/k?versionId=v'}}\n";
    let out = packaged(flow);
    assert!(
        out.contains("Code: {S3Bucket: b, S3Key: k, S3ObjectVersion: v}"),
        "{out}"
    );

    let json = "{\"Resources\": {\"F\": {\"Type\": \"AWS::Lambda::Function\", \"Properties\": {\"Code\": \"s3://b/k?versionId=v\"}}}}\n";
    let out = packaged(json);
    let value: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(
        value["Resources"]["F"]["Properties"]["Code"],
        serde_json::json!({"S3Bucket": "b", "S3Key": "k", "S3ObjectVersion": "v"})
    );

    let yaml = resource("AWS::Lambda::Function", "Code", "s3://b/k");
    let prepared = prepared(&yaml, true).expect("valid");
    let out = prepared
        .render_unchanged()
        .expect("renders")
        .expect("no upload");
    let value: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(
        value["Resources"]["R"]["Properties"]["Code"],
        serde_json::json!({"S3Bucket": "b", "S3Key": "k"})
    );
}

/// An `s3://` URL naming no key on a mapping-form property is a problem, with file, line,
/// column, resource and property.
#[test]
fn incomplete_s3_urls_on_mapping_rows_are_problems() {
    let text = format!(
        "{}  Other:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: s3://bucket-only/\n",
        resource("AWS::Lambda::Function", "Code", "s3://bucket-only")
    );
    let Err(Error::Invalid(problems)) = prepared(&text, false) else {
        panic!("expected problems");
    };
    let lines: Vec<String> = problems
        .iter()
        .map(|d| {
            let s = d.to_string();
            s[s.find("t.yml:").unwrap_or(0)..].to_string()
        })
        .collect();
    assert_eq!(
        lines,
        [
            "t.yml:5:13: resource R, property Code: the S3 URL names no object key (expected s3://bucket/key)",
            "t.yml:9:13: resource Other, property Code: the S3 URL names no object key (expected s3://bucket/key)",
        ]
    );
}

/// Malformed loops: two entries, four, not a list, an output that is not a mapping (also
/// nested); each reported with file, line, column and the loop's name, in document order
/// among the other problems; nothing is prepared.
#[test]
fn malformed_loops_are_problems() {
    let text = concat!(
        "Transform: AWS::LanguageExtensions\n",
        "Resources:\n",
        "  Fn::ForEach::Two: [Id, {'Resource${Id}': {}}]\n",
        "  Missing:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: no/such/folder\n",
        "  Fn::ForEach::Four:\n    - Id\n    - [a, b]\n    - 'Q${Id}': {Type: AWS::SQS::Queue}\n    - extra\n",
        "  Fn::ForEach::NotAList: {Id: [a]}\n",
        "  Fn::ForEach::NotAMap: [Id, [a, b], 'Q${Id}']\n",
        "  Fn::ForEach::Outer:\n    - Id\n    - [a]\n    - Fn::ForEach::Inner: [J, [b], [x]]\n",
    );
    let Err(Error::Invalid(problems)) = prepared(text, false) else {
        panic!("expected problems");
    };
    let got: Vec<(usize, usize, Option<&str>, &str)> = problems
        .iter()
        .map(|d| {
            (
                d.at.line(),
                d.at.col(),
                d.logical_id.as_deref(),
                d.message.as_str(),
            )
        })
        .collect();
    let list = "invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found";
    let map =
        "invalid \"Fn::ForEach::\" loop: its third entry (the output map) must be a mapping, found";
    let (two, four, mapping) = (
        format!("{list} 2 entries"),
        format!("{list} 4 entries"),
        format!("{list} a mapping"),
    );
    let (string, nested) = (format!("{map} a string"), format!("{map} a list"));
    assert_eq!(
        got,
        vec![
            (3, 21, Some("Fn::ForEach::Two"), two.as_str()),
            (7, 13, Some("Missing"), "file or folder does not exist"),
            (9, 5, Some("Fn::ForEach::Four"), four.as_str()),
            (13, 26, Some("Fn::ForEach::NotAList"), mapping.as_str()),
            (14, 38, Some("Fn::ForEach::NotAMap"), string.as_str()),
            (18, 36, Some("Fn::ForEach::Inner"), nested.as_str()),
        ]
    );
    let first = problems[0].to_string();
    assert!(
        first.ends_with(&format!("t.yml:3:21: resource Fn::ForEach::Two: {two}")),
        "{first}"
    );
}

/// A well-formed loop is no problem, and its fragment's `s3://` locations are rewritten.
#[test]
fn well_formed_loops_are_packaged() {
    let text = concat!(
        "Resources:\n",
        "  Fn::ForEach::Fns:\n    - Name\n    - [a, b]\n",
        "    - 'Fn${Name}':\n        Type: AWS::Lambda::Function\n        Properties:\n",
        "          Code: s3://b/${Name}.zip\n",
    );
    let out = packaged(text);
    assert!(
        out.contains("          Code:\n            S3Bucket: b\n            S3Key: ${Name}.zip\n"),
        "{out}"
    );
}
