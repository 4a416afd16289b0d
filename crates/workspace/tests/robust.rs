//! Robustness: merging many valid-but-odd inputs never panics, never produces a merged text
//! that does not parse, and never loses a key.

use std::path::{Path, PathBuf};

use cfn_yaml::{NodeKind, Template};
use copilot_workspace::{Addons, AddonsError};

const PARAMS: &str =
    "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Name: {Type: String}\n";

const SAMPLES: &[&str] = &[
    // Block style, comments everywhere, block scalars, 4-space indentation.
    "# header\n\nResources:\n    # lead\n    Fn:\n        Type: AWS::Lambda::Function # t\n        Properties:\n            Code: |\n                exports.handler = 1;\n\n                // end\n            Role: !GetAtt\n              - R\n              - Arn\n        # trailing deeper comment\n\n# col-0 comment\nOutputs:\n    O1:\n        Value: !Ref Fn\n",
    // Flow sections, Transform scalar, Mappings.
    "Transform: AWS::Serverless-2016-10-31\nConditions: {C1: !Equals [a, b], C2: {\"Fn::Not\": [{Condition: C1}]}}\nMappings:\n  M:\n    k: {v: 1}\n    j:\n      v: 2\nResources: {Q: {Type: 'AWS::SQS::Queue'}}\n",
    // JSON.
    "{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n  \"Resources\": {\n    \"T\": {\n      \"Type\": \"AWS::SNS::Topic\",\n      \"Properties\": {\"TopicName\": \"x\"}\n    }\n  },\n  \"Mappings\": {\"M\": {\"z\": {\"v\": 3}}},\n  \"Transform\": [\"AWS::LanguageExtensions\"]\n}\n",
    // CRLF, anchors, aliases, multi-line plain and quoted scalars, a document marker.
    "---\r\nDescription: a long\r\n  plain description\r\nMetadata:\r\n  Shared: &shared {a: 1}\r\n  Copy: *shared\r\nResources:\r\n  W:\r\n    Type: AWS::CloudFormation::WaitConditionHandle\r\n    Metadata:\r\n      Note: \"multi\r\n        line\"\r\nTransform:\r\n- AWS::Serverless-2016-10-31\r\n- AWS::LanguageExtensions   # two\r\n",
    // Indentless sequences, literal with keep chomping, empty sections, explicit null.
    "Rules:\nConditions: ~\nResources:\n  S:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: |+\n        kept\n\n      Tags:\n      - Key: a\n        Value: b\n      -   Key: c\n          Value: d\nOutputs: {}\n",
];

#[derive(Default, Debug)]
struct Tally {
    skipped: usize,
    failed: usize,
    merged: usize,
}

fn check(tally: &mut Tally, inputs: &[(&str, &str)]) {
    let templates: Vec<(PathBuf, String)> = inputs
        .iter()
        .map(|(n, t)| (PathBuf::from(n), t.to_string()))
        .collect();
    // Only inputs that parse on their own are interesting.
    let mut parsed = Vec::new();
    for (p, t) in &templates {
        match Template::parse(p, t.clone()) {
            Ok(t) if matches!(t.root().kind, NodeKind::Mapping(_)) => parsed.push(t),
            _ => {
                tally.skipped += 1;
                return;
            }
        }
    }
    match Addons::from_texts(Path::new("addons"), templates.clone(), None) {
        Err(AddonsError::MergedParse { at, message }) => {
            let mut texts = String::new();
            for (p, t) in &templates {
                texts.push_str(&format!("--- {}\n{t}\n", p.display()));
            }
            panic!("merged text does not parse ({at}: {message}) for:\n{texts}");
        }
        // (Conflicts between a prefix and a whole file, for instance.)
        Err(_) => tally.failed += 1,
        Ok(m) => {
            tally.merged += 1;
            let root = m.template().root();
            for t in &parsed {
                for (k, v) in t.root().entries() {
                    let name = k.as_scalar().unwrap_or_default();
                    let merged = root.get(name);
                    assert!(merged.is_some(), "section {name} lost:\n{}", m.text());
                    let merged = merged.unwrap_or(root);
                    if name == "Transform" {
                        continue;
                    }
                    for (k2, _) in v.entries() {
                        let key = k2.as_scalar().unwrap_or_default();
                        assert!(
                            merged.get(key).is_some(),
                            "{name}.{key} lost:\n{}",
                            m.text()
                        );
                    }
                }
            }
        }
    }
}

fn prefixes(s: &str) -> impl Iterator<Item = &str> {
    s.char_indices()
        .map(|(i, _)| &s[..i])
        .chain(std::iter::once(s))
}

#[test]
fn prefixes_of_odd_templates_merge_or_fail_cleanly() {
    let mut t = Tally::default();
    for (i, x) in SAMPLES.iter().enumerate() {
        for (j, y) in SAMPLES.iter().enumerate() {
            if i == j {
                continue;
            }
            let first = format!("{PARAMS}{x}");
            for p in prefixes(y) {
                check(&mut t, &[("a.yml", &first), ("b.yml", p)]);
            }
        }
    }
    assert!(t.merged > 500 && t.failed > 5, "{t:?}");
}

#[test]
fn prefixes_of_the_first_file() {
    let mut t = Tally::default();
    for x in SAMPLES {
        for y in SAMPLES {
            for p in prefixes(x) {
                check(&mut t, &[("0.yml", PARAMS), ("a.yml", p), ("b.yml", y)]);
            }
        }
    }
    assert!(t.merged > 500, "{t:?}");
}

#[test]
fn three_files_in_every_order() {
    let mut t = Tally::default();
    for a in SAMPLES {
        for b in SAMPLES {
            for c in SAMPLES {
                check(
                    &mut t,
                    &[("0.yml", PARAMS), ("1.yml", a), ("2.yml", b), ("3.yml", c)],
                );
            }
        }
    }
    assert!(t.merged == 125, "{t:?}");
}
