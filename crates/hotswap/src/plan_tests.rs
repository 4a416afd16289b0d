use super::*;

const BASE: &str = r#"AWSTemplateFormatVersion: 2010-09-09
Parameters:
  App:
    Type: String
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub '${App}-records'
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Handler: index.handler
      Runtime: nodejs20.x
      Role: !GetAtt Role.Arn
      Code:
        S3Bucket: bucket
        S3Key: assets/aaa.zip
  Sam:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      CodeUri: s3://bucket/assets/bbb.zip
Outputs:
  TableName:
    Value: !Ref Table
"#;

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from} not in the base template");
    BASE.replacen(from, to, 1)
}

fn other(verdict: Verdict) -> String {
    match verdict {
        Verdict::Other(why) => why,
        v => panic!("expected a non-code difference, got {v:?}"),
    }
}

#[test]
fn equal_templates_are_unchanged_whatever_the_spelling() {
    assert_eq!(compare(BASE, BASE).unwrap(), Verdict::Unchanged);
    // Long-form intrinsics, flow style, quotes and key order read the same.
    let respelled = with(
        "      TableName: !Sub '${App}-records'",
        "      TableName: {\"Fn::Sub\": \"${App}-records\"}",
    )
    .replace(
        "      Code:\n        S3Bucket: bucket\n        S3Key: assets/aaa.zip",
        "      Code: {S3Key: \"assets/aaa.zip\", S3Bucket: bucket}",
    );
    assert_eq!(compare(BASE, &respelled).unwrap(), Verdict::Unchanged);
}

#[test]
fn a_new_lambda_code_key_is_code_only() {
    let new = with("assets/aaa.zip", "assets/ccc.zip");
    let Verdict::CodeOnly(changes) = compare(BASE, &new).unwrap() else {
        panic!("not code only");
    };
    assert_eq!(
        changes,
        vec![CodeChange {
            logical_id: "Fn".into(),
            resource_type: "AWS::Lambda::Function".into(),
            location: S3Location {
                bucket: "bucket".into(),
                key: "assets/ccc.zip".into(),
                version: None,
            },
        }]
    );
}

#[test]
fn a_new_serverless_code_uri_is_code_only_in_both_forms() {
    let uri = with("s3://bucket/assets/bbb.zip", "s3://bucket/assets/ddd.zip");
    let map = with(
        "CodeUri: s3://bucket/assets/bbb.zip",
        "CodeUri: {Bucket: other, Key: assets/ddd.zip, Version: '3'}",
    );
    for (new, bucket, version) in [(uri, "bucket", None), (map, "other", Some("3"))] {
        let Verdict::CodeOnly(changes) = compare(BASE, &new).unwrap() else {
            panic!("not code only: {new}");
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].logical_id, "Sam");
        assert_eq!(changes[0].location.bucket, bucket);
        assert_eq!(changes[0].location.key, "assets/ddd.zip");
        assert_eq!(changes[0].location.version.as_deref(), version);
    }
}

#[test]
fn two_functions_changed_are_both_listed() {
    let new = with("assets/aaa.zip", "assets/ccc.zip").replace("bbb", "ddd");
    let Verdict::CodeOnly(changes) = compare(BASE, &new).unwrap() else {
        panic!("not code only");
    };
    let ids: Vec<&str> = changes.iter().map(|c| c.logical_id.as_str()).collect();
    assert_eq!(ids, ["Fn", "Sam"]);
}

#[test]
fn another_property_of_a_function_is_not_code_only() {
    let new = with("assets/aaa.zip", "assets/ccc.zip").replace("nodejs20.x", "nodejs22.x");
    let why = other(compare(BASE, &new).unwrap());
    assert!(
        why.contains("resource Fn") && why.contains("Runtime"),
        "{why}"
    );
}

#[test]
fn other_resources_and_sections_are_not_code_only() {
    let cases = [
        (with("-records", "-items"), "resource Table"),
        (
            with("Outputs:", "  Queue:\n    Type: AWS::SQS::Queue\nOutputs:"),
            "resource Queue is added",
        ),
        (
            BASE.replace("  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !Sub '${App}-records'\n", ""),
            "resource Table is removed",
        ),
        (with("Value: !Ref Table", "Value: !Ref Fn"), "Outputs"),
        (with("    Type: String", "    Type: Number"), "Parameters"),
        (
            with("Type: AWS::Lambda::Function", "Type: AWS::Lambda::Version"),
            "type",
        ),
        (
            with("Outputs:", "  X:\n    Type: AWS::S3::Bucket\nOutputs:")
                .replace("assets/aaa.zip", "assets/ccc.zip"),
            "resource X is added",
        ),
    ];
    for (new, expected) in cases {
        let why = other(compare(BASE, &new).unwrap());
        assert!(why.contains(expected), "{expected:?} not in {why:?}");
    }
}

#[test]
fn code_that_is_not_a_literal_s3_object_is_not_hotswappable() {
    let cases = [
        with(
            "        S3Bucket: bucket\n        S3Key: assets/aaa.zip",
            "        ZipFile: exports.handler = 1",
        ),
        with("S3Key: assets/aaa.zip", "S3Key: !Sub '${App}.zip'"),
        with(
            "        S3Bucket: bucket\n        S3Key: assets/aaa.zip",
            "        ImageUri: repo:tag",
        ),
        with("CodeUri: s3://bucket/assets/bbb.zip", "CodeUri: ./src"),
    ];
    for new in cases {
        let why = other(compare(BASE, &new).unwrap());
        assert!(why.contains("its new Code"), "{why}");
    }
}

#[test]
fn code_locations_lists_the_literal_ones() {
    let found = code_locations(BASE).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found["Fn"].key, "assets/aaa.zip");
    assert_eq!(found["Sam"].key, "assets/bbb.zip");
    let inline = with(
        "        S3Bucket: bucket\n        S3Key: assets/aaa.zip",
        "        ZipFile: x",
    );
    assert!(!code_locations(&inline).unwrap().contains_key("Fn"));
}

#[test]
fn unreadable_templates_are_errors() {
    let err = compare("Resources: [", BASE).unwrap_err();
    assert_eq!(err.which, "deployed");
    assert!(compare(BASE, "{").is_err());
}
