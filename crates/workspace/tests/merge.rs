//! Discovery of addon files and the merge (SPEC A1, A2, B §3.1, §3.2).

mod common;

use cfn_yaml::{Node, NodeKind, Pos};
use common::{PARAMS, load, merge_err, merged, tree};
use copilot_workspace::{Addons, AddonsError};

fn keys(n: &Node) -> Vec<&str> {
    n.entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect()
}

fn scalars(n: &Node) -> Vec<&str> {
    match &n.kind {
        NodeKind::Sequence(items) => items.iter().filter_map(|i| i.as_scalar()).collect(),
        _ => n.as_scalar().into_iter().collect(),
    }
}

const A: &str = "# A: the table\nParameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n  Name:\n    Type: String\n\nResources:\n  # The records table.\n  Table:\n    Type: AWS::DynamoDB::Table # a table\n    Properties:\n      TableName: !Sub '${App}-${Env}-records'\n      BillingMode: \"PAY_PER_REQUEST\"\n\nOutputs:\n  TableName:\n    Value: !Ref Table\n";

const B: &str = "# B: the function\nResources:\n    Fn:\n        Type: AWS::Lambda::Function\n        Properties:\n            Code: lambdas/fn/ # local folder\n            Role: !GetAtt Role.Arn\n            Description: |\n                first line\n                  indented line\n    Role:\n        Type: AWS::IAM::Role\nConditions:\n    IsProd: !Equals [!Ref Env, 'prod']\nOutputs:\n    FnName:\n        Value: !Ref Fn\n";

#[test]
fn disjoint_files_keep_each_entry_text() {
    let (_d, m) = merged(&[("b.yml", B), ("a.yml", A)]);
    let text = m.text();
    // Sorted by name: a.yml first.
    assert_eq!(m.files().len(), 2);
    assert!(m.files()[0].ends_with("a.yml") && m.files()[1].ends_with("b.yml"));
    for needle in [
        "# A: the table\n",
        "  # The records table.\n  Table:\n    Type: AWS::DynamoDB::Table # a table\n",
        "      TableName: !Sub '${App}-${Env}-records'\n      BillingMode: \"PAY_PER_REQUEST\"\n",
        // B's entries are shifted uniformly (4 to 2 columns): nested lines keep their offset.
        "  # B: the function\n  Fn:\n      Type: AWS::Lambda::Function\n",
        "          Code: lambdas/fn/ # local folder\n          Role: !GetAtt Role.Arn\n",
        "          Description: |\n              first line\n                indented line\n",
        "  Role:\n      Type: AWS::IAM::Role\n",
        // A section from one file only is copied as written.
        "Conditions:\n    IsProd: !Equals [!Ref Env, 'prod']\n",
        "  TableName:\n    Value: !Ref Table\n  FnName:\n      Value: !Ref Fn\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let root = m.template().root();
    assert_eq!(
        keys(root),
        ["Parameters", "Resources", "Outputs", "Conditions"]
    );
    assert_eq!(
        keys(root.get("Resources").unwrap()),
        ["Table", "Fn", "Role"]
    );
    assert_eq!(keys(root.get("Outputs").unwrap()), ["TableName", "FnName"]);
    assert_eq!(m.outputs(), ["TableName", "FnName"]);
    let desc = root
        .get_path(&["Resources", "Fn", "Properties", "Description"])
        .and_then(Node::as_scalar);
    assert_eq!(desc, Some("first line\n  indented line\n"));
    let role = root
        .get_path(&["Resources", "Fn", "Properties", "Role"])
        .unwrap();
    assert_eq!(role.tag.as_deref(), Some("!GetAtt"));
    assert_eq!(m.template().origin(), m.dir());
}

#[test]
fn single_file_is_unchanged() {
    let text = "# only\r\nParameters:   {App: {Type: String}, Env: {Type: String}, Name: {Type: String}}\r\nResources:\r\n  X:   {Type: 'AWS::SNS::Topic'}   # odd spacing\r\n";
    let (_d, m) = merged(&[("only.yaml", text)]);
    assert_eq!(m.text(), text);
    assert_eq!(m.template().origin(), m.files()[0]);
    let loc = m.locate(Pos {
        byte: 0,
        line: 4,
        col: 3,
    });
    assert_eq!((loc.line(), loc.col()), (4, 3));
    assert!(loc.file.ends_with("only.yaml"));
}

#[test]
fn equal_values_in_another_style_merge() {
    let a = format!(
        "{PARAMS}Conditions:\n  C: !Equals [a, b]\nResources:\n  T:\n    Type: AWS::SNS::Topic # topic\n    Properties:\n      TopicName: \"t\"\n      Tags: [{{Key: k, Value: 1}}]\n"
    );
    let b = "Parameters:\n  App: {Type: String}\nConditions:\n    C: !Equals\n      - a\n      - \"b\" # quoted\nResources:\n  # same topic\n  T:\n      Properties: {TopicName: 't', Tags: [{Key: 'k', Value: 1}]}\n      Type: AWS::SNS::Topic\n"
        .replace("  T:\n      Properties: {TopicName: 't', Tags: [{Key: 'k', Value: 1}]}\n      Type: AWS::SNS::Topic\n", "  T:\n      Type: 'AWS::SNS::Topic'\n      Properties: {TopicName: 't', Tags: [{Key: 'k', Value: 1}]}\n");
    let (_d, m) = merged(&[("a.yml", &a), ("b.yml", &b)]);
    // Nothing new: the first file's sections are kept as written.
    assert!(m.text().contains("  C: !Equals [a, b]\n"), "{}", m.text());
    assert!(!m.text().contains("same topic"), "{}", m.text());
    assert_eq!(keys(m.template().root().get("Resources").unwrap()), ["T"]);
}

#[test]
fn ref_tag_and_ref_mapping_are_different() {
    let a = format!("{PARAMS}Outputs:\n  O:\n    Value: !Ref X\n");
    let b = "Outputs:\n  O:\n    Value:\n      Ref: X\n";
    assert_eq!(
        merge_err(&[("a.yml", &a), ("b.yml", b)]),
        "output \"O\" defined in \"a.yml\" at Ln 10, Col 5 is different than in \"b.yml\" at Ln 3, Col 5"
    );
}

#[test]
fn number_and_string_are_different() {
    let a = format!(
        "{PARAMS}Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {{DelaySeconds: 5}}\n"
    );
    let b = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {DelaySeconds: '5'}\n";
    let err = merge_err(&[("a.yml", &a), ("b.yml", b)]);
    assert!(
        err.starts_with("resource \"Q\" defined in \"a.yml\""),
        "{err}"
    );
}

/// Each section's conflict message names both files with the line and column of the
/// conflicting values, as Copilot does (a block mapping at its first key, a flow one at its
/// brace, a tagged value at its tag).
#[test]
fn conflicts_in_each_section() {
    let cases: [(&str, &str, &str); 10] = [
        (
            "Resources:\n  R:\n    Type: AWS::SNS::Topic\n",
            "# b\nResources:\n   R:\n     Type: AWS::SQS::Queue\n",
            "resource \"R\" defined in \"a.yml\" at Ln 10, Col 5 is different than in \"b.yml\" at Ln 4, Col 6",
        ),
        (
            "Outputs:\n  O:\n    Value: a\n",
            "Outputs: {O: {Value: b}}\n",
            "output \"O\" defined in \"a.yml\" at Ln 10, Col 5 is different than in \"b.yml\" at Ln 1, Col 14",
        ),
        (
            "",
            "Parameters:\n  Env:\n    Type: Number\n",
            "parameter logical ID \"Env\" defined in \"a.yml\" at Ln 5, Col 5 is different than in \"b.yml\" at Ln 3, Col 5",
        ),
        (
            "Conditions:\n  C: !Equals [a, b]\n",
            "\n\nConditions:\n  C: !Equals [a, c]\n",
            "condition \"C\" defined in \"a.yml\" at Ln 9, Col 6 is different than in \"b.yml\" at Ln 4, Col 6",
        ),
        (
            "Metadata:\n  Version: 1\n",
            "Metadata:\n  Version: 2\n",
            "metadata key \"Version\" defined in \"a.yml\" at Ln 9, Col 12 is different than in \"b.yml\" at Ln 2, Col 12",
        ),
        (
            "Mappings:\n  Sizes:\n    test: {Cpu: 256}\n    prod: {Cpu: 1024}\n",
            "Mappings:\n  Sizes:\n    dev: {Cpu: 256}\n    prod: {Cpu: 2048}\n",
            "mapping \"Sizes.prod\" defined in \"a.yml\" at Ln 11, Col 11 is different than in \"b.yml\" at Ln 4, Col 11",
        ),
        (
            "Description: The addons of the api service.\n",
            "Description: Something else.\n",
            "section \"Description\" defined in \"a.yml\" at Ln 8, Col 14 is different than in \"b.yml\" at Ln 1, Col 14",
        ),
        (
            "AWSTemplateFormatVersion: 2010-09-09\n",
            "AWSTemplateFormatVersion: '2010-09-10'\n",
            "section \"AWSTemplateFormatVersion\" defined in \"a.yml\" at Ln 8, Col 27 is different than in \"b.yml\" at Ln 1, Col 27",
        ),
        (
            "Rules:\n  R1:\n    Assertions: []\n",
            "Rules:\n  R1:\n    Assertions: [{Assert: true}]\n",
            "rule \"R1\" defined in \"a.yml\" at Ln 10, Col 5 is different than in \"b.yml\" at Ln 3, Col 5",
        ),
        (
            "Globals:\n  Function:\n    Timeout: 3\n",
            "Globals:\n  Function:\n    Timeout: 4\n",
            "Globals key \"Function\" defined in \"a.yml\" at Ln 10, Col 5 is different than in \"b.yml\" at Ln 3, Col 5",
        ),
    ];
    for (a, b, want) in cases {
        let a = format!("{PARAMS}{a}");
        let (_d, res) = load(&[("a.yml", &a), ("b.yml", b)]);
        match res {
            Err(AddonsError::Conflict(c)) => {
                assert_eq!(c.to_string(), want);
                assert!(c.first.file.ends_with("a.yml") && c.second.file.ends_with("b.yml"));
            }
            other => panic!("{want}: got {other:?}"),
        }
    }
}

#[test]
fn equal_top_level_scalars_are_fine() {
    let a =
        format!("AWSTemplateFormatVersion: '2010-09-09'\nDescription: >-\n  The addons.\n{PARAMS}");
    let b = "AWSTemplateFormatVersion: \"2010-09-09\"\nDescription: The addons.\nRules: {}\nHooks:\n  H: {Type: AWS::Hook}\n";
    let (_d, m) = merged(&[("a.yml", &a), ("b.yml", b)]);
    let root = m.template().root();
    assert_eq!(
        keys(root),
        [
            "AWSTemplateFormatVersion",
            "Description",
            "Parameters",
            "Rules",
            "Hooks"
        ]
    );
    assert!(
        m.text().starts_with(
            "AWSTemplateFormatVersion: '2010-09-09'\nDescription: >-\n  The addons.\n"
        )
    );
    assert_eq!(
        root.get("Description").and_then(Node::as_scalar),
        Some("The addons.")
    );
}

#[test]
fn mappings_merge_on_two_levels() {
    let a = format!(
        "{PARAMS}Mappings:\n  # sizes per env\n  Sizes:\n    test:\n      Cpu: 256\n    prod: {{Cpu: 1024}}\n  Only:\n    x: {{y: z}}\n"
    );
    let b = "Mappings:\n    Sizes:\n        dev:  # dev env\n            Cpu: 128\n        prod: {Cpu: 1024}\n    Other:\n        k: {v: 1}\n";
    let (_d, m) = merged(&[("a.yml", &a), ("b.yml", b)]);
    let maps = m.template().root().get("Mappings").unwrap();
    assert_eq!(keys(maps), ["Sizes", "Only", "Other"]);
    assert_eq!(keys(maps.get("Sizes").unwrap()), ["test", "prod", "dev"]);
    assert_eq!(
        maps.get_path(&["Sizes", "dev", "Cpu"])
            .and_then(Node::as_scalar),
        Some("128")
    );
    assert!(
        m.text().contains("  # sizes per env\n  Sizes:\n    test:\n      Cpu: 256\n    prod: {Cpu: 1024}\n    dev:  # dev env\n        Cpu: 128\n  Only:\n"),
        "{}",
        m.text()
    );
    assert!(
        m.text().contains("  Other:\n      k: {v: 1}\n"),
        "{}",
        m.text()
    );
}

#[test]
fn transform_is_an_ordered_set_union() {
    let a = format!("Transform: A\n{PARAMS}");
    let (_d, m) = merged(&[
        ("1.yml", &a),
        ("2.yml", "Transform: [A, B]\n"),
        ("3.yml", "Transform:\n  - B\n  - C # the last one\n"),
    ]);
    let t = m.template().root().get("Transform").unwrap();
    assert_eq!(scalars(t), ["A", "B", "C"]);
    assert!(
        m.text()
            .starts_with("Transform:\n  - A\n  - B\n  - C # the last one\n"),
        "{}",
        m.text()
    );

    // The same transform everywhere stays as written.
    let (_d, m) = merged(&[
        ("1.yml", &a),
        ("2.yml", "Transform: [A]\n"),
        ("3.yml", "Transform: 'A'\n"),
    ]);
    assert!(m.text().starts_with("Transform: A\n"), "{}", m.text());
}

#[test]
fn null_sections_and_later_additions() {
    let a = format!("{PARAMS}Outputs: # none yet\nConditions: ~\n");
    let b = "Outputs:\n  O:\n    Value: x\nConditions:\n  C: !Equals [a, a]\n";
    let (_d, m) = merged(&[("a.yml", &a), ("b.yml", b)]);
    let root = m.template().root();
    assert_eq!(keys(root.get("Outputs").unwrap()), ["O"]);
    assert_eq!(keys(root.get("Conditions").unwrap()), ["C"]);
    assert!(
        m.text()
            .contains("Outputs: # none yet\n  O:\n    Value: x\n"),
        "{}",
        m.text()
    );
}

#[test]
fn json_and_yaml_files_merge() {
    let a = format!("{PARAMS}Resources:\n  T:\n    Type: AWS::SNS::Topic\n");
    let b = "{\n  \"Resources\": {\n    \"Q\": {\n      \"Type\": \"AWS::SQS::Queue\",\n      \"Properties\": {\"DelaySeconds\": 5}\n    }\n  },\n  \"Outputs\": {\"QUrl\": {\"Value\": {\"Ref\": \"Q\"}}}\n}\n";
    let (_d, m) = merged(&[("a.yml", &a), ("b.yml", b)]);
    let root = m.template().root();
    assert_eq!(keys(root.get("Resources").unwrap()), ["T", "Q"]);
    assert_eq!(
        root.get_path(&["Resources", "Q", "Properties", "DelaySeconds"])
            .and_then(Node::as_scalar),
        Some("5")
    );
    assert_eq!(m.outputs(), ["QUrl"]);
    // Positions inside the JSON entry map back to the JSON file.
    let q = root.get_path(&["Resources", "Q", "Type"]).unwrap();
    let at = m.locate(q.span.start);
    assert!(at.file.ends_with("b.yml"));
    assert_eq!(at.line(), 4);
}

#[test]
fn locate_maps_merged_positions_to_original_files() {
    let (_d, m) = merged(&[("a.yml", A), ("b.yml", B)]);
    let root = m.template().root();
    let code = root
        .get_path(&["Resources", "Fn", "Properties", "Code"])
        .unwrap();
    let at = m.locate(code.span);
    assert!(at.file.ends_with("b.yml"), "{at}");
    // `            Code: lambdas/fn/ # local folder` is line 6 of B; the value at column 19.
    assert_eq!((at.line(), at.col()), (6, 19));
    // The place carries B's text, and the span is the value's, in B.
    assert_eq!(at.text.as_deref(), Some(B));
    assert_eq!(at.snippet(), Some("lambdas/fn/"));
    let table = root
        .get_path(&["Resources", "Table", "Properties", "TableName"])
        .unwrap();
    let at = m.locate(table.span.start);
    assert!(at.file.ends_with("a.yml"), "{at}");
    assert_eq!((at.line(), at.col()), (15, 18));
    // Every merged line maps to a line whose trimmed text is the same.
    for (i, line) in m.text().lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = m.locate(Pos {
            byte: 0,
            line: i + 1,
            col: 1,
        });
        let original = std::fs::read_to_string(&at.file).unwrap();
        let orig_line = original.lines().nth(at.line() - 1).unwrap();
        assert_eq!(orig_line.trim(), line.trim(), "merged line {}", i + 1);
        let col = line.len() - line.trim_start().len() + 1;
        let at = m.locate(Pos {
            byte: 0,
            line: i + 1,
            col,
        });
        assert_eq!(at.col(), orig_line.len() - orig_line.trim_start().len() + 1);
    }
}

#[test]
fn discovery_rules() {
    // Extensions are exact and case-sensitive; folders and other files are ignored.
    let a = format!("{PARAMS}Resources:\n  A: {{Type: AWS::SNS::Topic}}\n");
    let (dir, res) = load(&[
        ("b.yaml", "Resources:\n  B: {Type: AWS::SNS::Topic}\n"),
        ("a.yml", &a),
        ("c.YML", "not: [valid"),
        ("d.yml.bak", "not: [valid"),
        ("e.json", "not: [valid"),
        ("sub/f.yml", "not: [valid"),
        ("sub.yml/g.yml", "not: [valid"),
    ]);
    let m = res.unwrap().unwrap();
    let names: Vec<_> = m
        .files()
        .iter()
        .map(|f| f.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.yml", "b.yaml"]);
    assert_eq!(m.dir(), dir.path().join("addons"));

    // No folder, an empty folder, only other files, or a lone parameters file: no addons.
    let d = tree(&[("x/readme.md", "")]);
    assert!(Addons::load(&d.path().join("addons")).unwrap().is_none());
    assert!(Addons::load(&d.path().join("x")).unwrap().is_none());
    assert!(
        Addons::load(&d.path().join("x/readme.md"))
            .unwrap()
            .is_none()
    );
    let (_d, res) = load(&[("addons.parameters.yml", "Parameters: {}\n"), ("n.txt", "")]);
    assert!(res.unwrap().is_none());
}

#[test]
fn invalid_templates() {
    let (_d, res) = load(&[("a.yml", "Resources: [unclosed\n")]);
    let err = res.unwrap_err();
    assert!(matches!(err, AddonsError::Parse(_)), "{err:?}");
    assert!(err.location().unwrap().file.ends_with("a.yml"));

    // (cfn-yaml rejects a root that is not a mapping.)
    let err = merge_err(&[("a.yml", PARAMS), ("b.yml", "- just\n- a list\n")]);
    assert!(err.contains("b.yml:1:1: "), "{err}");
    assert!(err.contains("must be a mapping"), "{err}");

    let err = merge_err(&[
        ("a.yml", PARAMS),
        ("b.yml", "Resources:\n  ? [a, b]\n  : x\n"),
    ]);
    assert!(err.contains("b.yml:2:5: keys must be strings"), "{err}");

    let (_d, res) = load(&[("a.yml", "\u{0}\u{fffe}")]);
    assert!(res.is_err());
    let d = tree(&[]);
    let dir = d.path().join("addons");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yml"), [0xff, 0xfe, b'a']).unwrap();
    assert!(matches!(
        Addons::load(&dir),
        Err(AddonsError::NotUtf8 { .. })
    ));
}

#[test]
fn alias_before_its_anchor_after_merge_is_a_located_error() {
    let a = format!("{PARAMS}Resources:\n  T: {{Type: AWS::SNS::Topic}}\nMetadata:\n  M: 1\n");
    let b = "Metadata:\n  Shared: &tags [{Key: a, Value: b}]\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      Tags: *tags\n";
    let (_d, res) = load(&[("a.yml", &a), ("b.yml", b)]);
    match res {
        Err(AddonsError::MergedParse { at, message }) => {
            assert!(at.file.ends_with("b.yml"), "{at}");
            assert_eq!(at.line(), 7, "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Copilot's addon merge test: a block sequence under a 4-space indented key is reported at
/// its first `-` (`Ln 4, Col 7`), the other file's at `Ln 3, Col 5`, not at the keys.
#[test]
fn conflicts_point_at_the_values_as_copilot_does() {
    let first =
        format!("Metadata:\n    Version: 1\n    Services:\n      - api\n      - fe\n{PARAMS}");
    let second = "Metadata:\n  Services:\n    - be\n";
    let (_d, res) = load(&[("first.yaml", &first), ("second.yaml", second)]);
    let Err(AddonsError::Conflict(c)) = res else {
        panic!("expected a conflict, got {res:?}");
    };
    assert_eq!(
        c.to_string(),
        "metadata key \"Services\" defined in \"first.yaml\" at Ln 4, Col 7 is different than in \"second.yaml\" at Ln 3, Col 5"
    );
    assert_eq!((c.first.line(), c.first.col()), (4, 7));
    assert_eq!((c.second.line(), c.second.col()), (3, 5));
    // The error's own location (for the caret) is the second value.
    let err = AddonsError::Conflict(c);
    let at = err.location().unwrap();
    assert!(at.file.ends_with("second.yaml"));
    assert_eq!((at.line(), at.col()), (3, 5));
}

/// Second-level `Mappings` conflicts and whole-section conflicts point at values too.
#[test]
fn nested_and_section_conflicts_point_at_values() {
    let a = format!("{PARAMS}Mappings:\n  M:\n    k:\n      v: 1\n");
    let b = "Mappings:\n  M:\n    k: !If [C, {v: 2}, {v: 3}]\n";
    assert_eq!(
        merge_err(&[("a.yml", &a), ("b.yml", b)]),
        "mapping \"M.k\" defined in \"a.yml\" at Ln 11, Col 7 is different than in \"b.yml\" at Ln 3, Col 8"
    );
    let a = format!("{PARAMS}Description: >-\n  folded\n");
    let b = "\nDescription: 'other'\n";
    assert_eq!(
        merge_err(&[("a.yml", &a), ("b.yml", b)]),
        "section \"Description\" defined in \"a.yml\" at Ln 8, Col 14 is different than in \"b.yml\" at Ln 2, Col 14"
    );
}
