//! The shape Copilot requires of the merged addons template: `Resources` and `Outputs` are
//! mappings of mappings, each resource has a string `Type` (Copilot's messages, with the
//! place in the original file).

mod common;

use common::{PARAMS, load};
use copilot_workspace::AddonsError;

/// Loads the files and returns (message, file name, line, column) of the error.
fn refused(files: &[(&str, &str)]) -> (String, String, usize, usize) {
    let (_d, res) = load(files);
    let err = match res {
        Err(e) => e,
        Ok(_) => panic!("{files:?}: expected an error"),
    };
    let at = err.location().expect("the error has a location");
    (err.to_string(), at.file_name(), at.line(), at.col())
}

fn with_params(rest: &str) -> String {
    format!("{PARAMS}{rest}")
}

#[test]
fn resources_that_is_not_a_map() {
    let t = with_params("Resources: hello\n");
    assert_eq!(
        refused(&[("a.yml", &t)]),
        (
            "\"Resources\" field in cloudformation template is not a map".into(),
            "a.yml".into(),
            8,
            12
        )
    );
    // Null and a list are not maps either.
    for rest in ["Resources:\n", "Resources: [a]\n"] {
        let (message, _, line, col) = refused(&[("a.yml", &with_params(rest))]);
        assert_eq!(
            message, "\"Resources\" field in cloudformation template is not a map",
            "{rest:?}"
        );
        assert_eq!(line, 8, "{rest:?}");
        assert!(col >= 11, "{rest:?}: {col}");
    }
}

#[test]
fn a_resource_that_is_not_a_map() {
    let t = with_params("Resources:\n  Hello: World\n");
    assert_eq!(
        refused(&[("a.yml", &t)]),
        (
            "decode the \"Type\" field of resource \"Hello\": the resource is a string, not a mapping"
                .into(),
            "a.yml".into(),
            9,
            10
        )
    );
}

#[test]
fn outputs_that_is_not_a_map() {
    let t = with_params("Resources:\n  T:\n    Type: AWS::SNS::Topic\nOutputs: hello\n");
    assert_eq!(
        refused(&[("a.yml", &t)]),
        (
            "\"Outputs\" field in cloudformation template is not a map".into(),
            "a.yml".into(),
            11,
            10
        )
    );
}

#[test]
fn an_output_that_is_not_a_map() {
    let t = with_params("Resources:\n  T:\n    Type: AWS::SNS::Topic\nOutputs:\n  Hello: World\n");
    assert_eq!(
        refused(&[("a.yml", &t)]),
        (
            "decode the \"Value\" field of output \"Hello\": the output is a string, not a mapping"
                .into(),
            "a.yml".into(),
            12,
            10
        )
    );
}

#[test]
fn a_resource_without_type() {
    let t = with_params("Resources:\n  Hello:\n    Properties: {}\n");
    assert_eq!(
        refused(&[("a.yml", &t)]),
        (
            "decode the \"Type\" field of resource \"Hello\": the resource has no \"Type\"".into(),
            "a.yml".into(),
            9,
            3
        )
    );
}

#[test]
fn a_resource_whose_type_is_not_a_string() {
    let cases = [
        ("[AWS::SNS::Topic]", "a list"),
        ("{Name: x}", "a mapping"),
        ("5", "the non-string scalar 5"),
        ("true", "the non-string scalar true"),
        ("!Ref T", "a !Ref value"),
    ];
    for (value, found) in cases {
        let t = with_params(&format!("Resources:\n  Hello:\n    Type: {value}\n"));
        assert_eq!(
            refused(&[("a.yml", &t)]),
            (
                format!(
                    "decode the \"Type\" field of resource \"Hello\": \"Type\" must be a string, found {found}"
                ),
                "a.yml".into(),
                10,
                11
            ),
            "{value}"
        );
    }
}

/// In a merged template, the problem is located in the file that holds it.
#[test]
fn problems_of_merged_files_point_at_the_original_file() {
    let a = with_params("Resources:\n  T:\n    Type: AWS::SNS::Topic\n");
    let b = "# b\nResources:\n    Hello: World\n";
    assert_eq!(
        refused(&[("a.yml", &a), ("b.yml", b)]),
        (
            "decode the \"Type\" field of resource \"Hello\": the resource is a string, not a mapping"
                .into(),
            "b.yml".into(),
            3,
            12
        )
    );
    let b = "Outputs:\n  Out: [x]\n";
    let (message, file, line, col) = refused(&[("a.yml", &a), ("b.yml", b)]);
    assert_eq!(
        message,
        "decode the \"Value\" field of output \"Out\": the output is a list, not a mapping"
    );
    assert_eq!((file.as_str(), line, col), ("b.yml", 2, 8));
}

/// Well-formed templates load: string types in any style, loops (the packager checks them),
/// no `Resources` at all in one of several files.
#[test]
fn well_formed_templates_load() {
    let a = with_params(concat!(
        "Resources:\n",
        "  T:\n    Type: 'AWS::SNS::Topic'\n",
        "  U:\n    Type: !!str AWS::SQS::Queue\n",
        "  Fn::ForEach::Topics:\n    - N\n    - [a, b]\n    - 'Topic${N}':\n        Type: AWS::SNS::Topic\n",
        "Outputs:\n  O:\n    Value: !Ref T\n",
    ));
    let (_d, res) = load(&[("a.yml", &a), ("b.yml", "Mappings:\n  M:\n    k: {v: 1}\n")]);
    let addons = res.expect("loads").expect("has addons");
    assert_eq!(addons.outputs(), ["O"]);
    assert!(matches!(
        load(&[("a.yml", &with_params("Resources:\n  H: World\n"))]).1,
        Err(AddonsError::ResourceType { .. })
    ));
}
