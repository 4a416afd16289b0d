use super::*;
use std::path::Path;

fn parse(text: &str) -> Template {
    Template::parse(Path::new("t.yml"), text.to_string()).expect("test template parses")
}

/// Builds the YAML for a nested property path, e.g. `Command.ScriptLocation` with `*` given
/// concrete names.
fn property_yaml(path: &str, value: &str) -> (String, String) {
    let mut yaml = String::new();
    let mut concrete = Vec::new();
    for (depth, key) in path.split('.').enumerate() {
        let key = if key == "*" {
            format!("Any{depth}")
        } else {
            key.to_string()
        };
        yaml.push_str(&"  ".repeat(depth + 3));
        yaml.push_str(&key);
        yaml.push(':');
        concrete.push(key);
        if depth + 1 == path.split('.').count() {
            yaml.push(' ');
            yaml.push_str(value);
        }
        yaml.push('\n');
    }
    (yaml, concrete.join("."))
}

#[test]
fn every_resource_row_is_found_with_its_concrete_property_path() {
    for rule in RULES
        .iter()
        .filter(|r| r.resource_type != INCLUDE && r.resource_type != SERVERLESS_REPO)
    {
        let (props, concrete) = property_yaml(rule.property, "some/local/path");
        let text = format!(
            "Resources:\n  Res:\n    Type: {}\n    Properties:\n{props}",
            rule.resource_type
        );
        let t = parse(&text);
        let found = candidates(&t);
        let matching: Vec<_> = found
            .iter()
            .filter(|c| std::ptr::eq(c.rule, rule))
            .collect();
        assert_eq!(matching.len(), 1, "row {rule:?} in\n{text}");
        let c = matching[0];
        assert_eq!(c.property, concrete);
        assert_eq!(c.value, Value::Local("some/local/path"));
        assert_eq!(
            c.site,
            Site::Resource {
                logical_id: "Res",
                resource_type: rule.resource_type
            }
        );
    }
}

/// SPEC B §1's table, transcribed by hand from the spec (not derived from [`RULES`]): row,
/// resource type, property path (`*` for the table's `<Type>`/`<Name>` levels), replacement
/// (the table's notation), force-zip. SPEC A3 leaves out rows 2 and 5 (container images).
const SPEC_TABLE: &[(u8, &str, &str, &str, bool)] = &[
    (
        1,
        "AWS::Lambda::Function",
        "Code",
        "MAP{S3Bucket,S3Key} +V=S3ObjectVersion",
        true,
    ),
    (
        3,
        "AWS::Lambda::LayerVersion",
        "Content",
        "MAP{S3Bucket,S3Key} +V=S3ObjectVersion",
        true,
    ),
    (4, "AWS::Serverless::Function", "CodeUri", "URI", true),
    (
        6,
        "AWS::Serverless::LayerVersion",
        "ContentUri",
        "URI",
        true,
    ),
    (7, "AWS::Serverless::Api", "DefinitionUri", "URI", false),
    (8, "AWS::Serverless::HttpApi", "DefinitionUri", "URI", false),
    (
        9,
        "AWS::Serverless::StateMachine",
        "DefinitionUri",
        "MAP{Bucket,Key} +V=Version",
        false,
    ),
    (
        10,
        "AWS::Serverless::Application",
        "Location",
        "HTTPS",
        false,
    ),
    (11, "AWS::Serverless::GraphQLApi", "SchemaUri", "URI", false),
    (
        11,
        "AWS::Serverless::GraphQLApi",
        "Resolvers.*.*.CodeUri",
        "URI",
        false,
    ),
    (
        11,
        "AWS::Serverless::GraphQLApi",
        "Functions.*.CodeUri",
        "URI",
        false,
    ),
    (
        12,
        "AWS::ApiGateway::RestApi",
        "BodyS3Location",
        "MAP{Bucket,Key} +V=Version",
        false,
    ),
    (
        13,
        "AWS::ApiGatewayV2::Api",
        "BodyS3Location",
        "MAP{Bucket,Key} +V=Version",
        false,
    ),
    (
        14,
        "AWS::AppSync::GraphQLSchema",
        "DefinitionS3Location",
        "URI",
        false,
    ),
    (
        15,
        "AWS::AppSync::Resolver",
        "RequestMappingTemplateS3Location",
        "URI",
        false,
    ),
    (
        15,
        "AWS::AppSync::Resolver",
        "ResponseMappingTemplateS3Location",
        "URI",
        false,
    ),
    (16, "AWS::AppSync::Resolver", "CodeS3Location", "URI", false),
    (
        17,
        "AWS::AppSync::FunctionConfiguration",
        "RequestMappingTemplateS3Location",
        "URI",
        false,
    ),
    (
        17,
        "AWS::AppSync::FunctionConfiguration",
        "ResponseMappingTemplateS3Location",
        "URI",
        false,
    ),
    (
        18,
        "AWS::AppSync::FunctionConfiguration",
        "CodeS3Location",
        "URI",
        false,
    ),
    (
        19,
        "AWS::ElasticBeanstalk::ApplicationVersion",
        "SourceBundle",
        "MAP{S3Bucket,S3Key}",
        false,
    ),
    (
        20,
        "AWS::CloudFormation::Stack",
        "TemplateURL",
        "HTTPS",
        false,
    ),
    (
        21,
        "AWS::CloudFormation::StackSet",
        "TemplateURL",
        "HTTPS",
        false,
    ),
    (22, "AWS::Glue::Job", "Command.ScriptLocation", "URI", false),
    (
        23,
        "AWS::StepFunctions::StateMachine",
        "DefinitionS3Location",
        "MAP{Bucket,Key} +V=Version",
        false,
    ),
    (
        24,
        "AWS::CodeCommit::Repository",
        "Code.S3",
        "MAP{Bucket,Key} +V=ObjectVersion",
        true,
    ),
    (
        25,
        "AWS::CloudFormation::ModuleVersion",
        "ModulePackage",
        "URI",
        false,
    ),
    (
        26,
        "AWS::CloudFormation::ResourceVersion",
        "SchemaHandlerPackage",
        "URI",
        false,
    ),
    (27, "AWS::Include", "Location", "URI", false),
    (
        28,
        "AWS::ServerlessRepo::Application",
        "LicenseUrl",
        "URI",
        false,
    ),
    (
        28,
        "AWS::ServerlessRepo::Application",
        "ReadmeUrl",
        "URI",
        false,
    ),
];

/// A form in the spec table's notation.
fn notation(form: &Form) -> String {
    match form {
        Form::Uri => "URI".to_owned(),
        Form::Https => "HTTPS".to_owned(),
        Form::Map {
            bucket,
            key,
            version,
        } => match version {
            Some(v) => format!("MAP{{{bucket},{key}}} +V={v}"),
            None => format!("MAP{{{bucket},{key}}}"),
        },
    }
}

#[test]
fn the_table_is_the_specs_table() {
    use std::collections::BTreeSet;
    let spec: BTreeSet<(&str, &str, String, bool)> = SPEC_TABLE
        .iter()
        .map(|&(_, t, p, f, z)| (t, p, f.to_owned(), z))
        .collect();
    let ours: BTreeSet<(&str, &str, String, bool)> = RULES
        .iter()
        .map(|r| (r.resource_type, r.property, notation(&r.form), r.force_zip))
        .collect();
    let missing: Vec<_> = spec.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&spec).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "rows of the spec missing from RULES: {missing:#?}\nrows of RULES not in the spec: {extra:#?}"
    );
    assert_eq!(RULES.len(), SPEC_TABLE.len(), "no row twice");
}

#[test]
fn table_has_every_decided_row() {
    let lambda = rules_for("AWS::Lambda::Function").next().unwrap();
    assert!(lambda.force_zip);
    assert_eq!(
        lambda.form,
        Form::Map {
            bucket: "S3Bucket",
            key: "S3Key",
            version: Some("S3ObjectVersion")
        }
    );
    let stack = rules_for("AWS::CloudFormation::Stack").next().unwrap();
    assert!(stack.recursive && stack.file_only);
    assert_eq!(stack.form, Form::Https);
    let stackset = rules_for("AWS::CloudFormation::StackSet").next().unwrap();
    assert!(!stackset.recursive && stackset.file_only);
    assert!(rules_for("AWS::Lambda::Function").all(|r| !r.property.contains("ImageUri")));
}

#[test]
fn local_path_rule() {
    let t = parse(concat!(
        "A: lambdas/x/\n",
        "B: 'quoted/path'\n",
        "C: \"dq/path\"\n",
        "D: !Ref Param\n",
        "E: !Sub '${AWS::Region}/x'\n",
        "F: {Ref: X}\n",
        "G: [a, b]\n",
        "H: s3://bucket/key\n",
        "I: https://example.com/x\n",
        "J: ''\n",
        "K:\n",
        "L: 123\n",
        "M: true\n",
        "N: !!str 123\n",
        "O: 1.5e3\n",
        "P: '123'\n",
        "Q: null\n",
        "R: ./relative\n",
        "S: C:/windows/style\n",
        "T: 0x1F\n",
    ));
    let v = |k: &str| classify(t.root().get(k).unwrap());
    assert_eq!(v("A"), Value::Local("lambdas/x/"));
    assert_eq!(v("B"), Value::Local("quoted/path"));
    assert_eq!(v("C"), Value::Local("dq/path"));
    assert_eq!(v("D"), Value::Skip);
    assert_eq!(v("E"), Value::Skip);
    assert_eq!(v("F"), Value::Skip);
    assert_eq!(v("G"), Value::Skip);
    assert_eq!(v("H"), Value::Skip);
    assert_eq!(v("I"), Value::Skip);
    assert_eq!(v("J"), Value::Skip);
    assert_eq!(v("K"), Value::Skip);
    assert_eq!(v("L"), Value::NotAPath { found: "a number" });
    assert_eq!(v("M"), Value::NotAPath { found: "a boolean" });
    assert_eq!(v("N"), Value::Local("123"));
    assert_eq!(v("O"), Value::NotAPath { found: "a number" });
    assert_eq!(v("P"), Value::Local("123"));
    assert_eq!(v("Q"), Value::Skip);
    assert_eq!(v("R"), Value::Local("./relative"));
    assert_eq!(v("S"), Value::Local("C:/windows/style"));
    assert_eq!(v("T"), Value::NotAPath { found: "a number" });
}

#[test]
fn candidates_come_in_document_order_including_includes_and_metadata() {
    let t = parse(concat!(
        "Metadata:\n",
        "  AWS::ServerlessRepo::Application:\n",
        "    LicenseUrl: LICENSE.txt\n",
        "    ReadmeUrl: README.md\n",
        "Parameters:\n",
        "  P:\n",
        "    Fn::Transform: {Name: AWS::Include, Parameters: {Location: not/here.yml}}\n",
        "Resources:\n",
        "  Fn2:\n",
        "    Type: AWS::Lambda::Function\n",
        "    Properties:\n",
        "      Code: b/\n",
        "      Other:\n",
        "        Fn::Transform:\n",
        "          Name: AWS::Include\n",
        "          Parameters:\n",
        "            Location: snippets/long.yml\n",
        "  Fn1:\n",
        "    Type: AWS::Serverless::Function\n",
        "    Properties:\n",
        "      CodeUri: a/\n",
        "      Extra: !Transform {Name: AWS::Include, Parameters: {Location: snippets/short.yml}}\n",
        "  Unknown:\n",
        "    Type: Custom::Thing\n",
        "    Properties:\n",
        "      Code: not/ours\n",
        "Outputs:\n",
        "  O:\n",
        "    Value:\n",
        "      Fn::Transform: {Name: AWS::Include, Parameters: {Location: out.yml}}\n",
        "    Other:\n",
        "      Fn::Transform: {Name: Other::Macro, Parameters: {Location: macro.yml}}\n",
    ));
    let found: Vec<_> = candidates(&t)
        .into_iter()
        .map(|c| (c.site.name().to_string(), c.property, c.value))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                SERVERLESS_REPO.into(),
                "LicenseUrl".into(),
                Value::Local("LICENSE.txt")
            ),
            (
                SERVERLESS_REPO.into(),
                "ReadmeUrl".into(),
                Value::Local("README.md")
            ),
            ("Fn2".into(), "Code".into(), Value::Local("b/")),
            (
                "Fn2".into(),
                "Fn::Transform.Parameters.Location".into(),
                Value::Local("snippets/long.yml")
            ),
            ("Fn1".into(), "CodeUri".into(), Value::Local("a/")),
            (
                "Fn1".into(),
                "!Transform.Parameters.Location".into(),
                Value::Local("snippets/short.yml")
            ),
            (
                "Outputs".into(),
                "Fn::Transform.Parameters.Location".into(),
                Value::Local("out.yml")
            ),
        ]
    );
}

#[test]
fn for_each_fragments_are_searched_and_inline_code_skips() {
    let t = parse(concat!(
        "Resources:\n",
        "  Fn::ForEach::Functions:\n",
        "    - Name\n",
        "    - [A, B]\n",
        "    - Fn${Name}:\n",
        "        Type: AWS::Lambda::Function\n",
        "        Properties:\n",
        "          Code: lambdas/shared/\n",
        "      Fn::ForEach::Inner:\n",
        "        - X\n",
        "        - [1]\n",
        "        - Layer${X}:\n",
        "            Type: AWS::Lambda::LayerVersion\n",
        "            Properties:\n",
        "              Content: layers/\n",
        "  Fn::ForEach::Broken:\n",
        "    - only-two\n",
        "    - entries\n",
        "  Inline:\n",
        "    Type: AWS::Serverless::Function\n",
        "    Properties:\n",
        "      InlineCode: 'exports.handler = () => 1'\n",
        "      CodeUri: ignored/\n",
    ));
    let found: Vec<_> = candidates(&t)
        .into_iter()
        .map(|c| (c.site.name().to_string(), c.value))
        .collect();
    assert_eq!(
        found,
        vec![
            ("Fn${Name}".into(), Value::Local("lambdas/shared/")),
            ("Layer${X}".into(), Value::Local("layers/")),
        ]
    );
}

#[test]
fn graphql_wildcards_match_every_resolver_and_function() {
    let t = parse(concat!(
        "Resources:\n",
        "  Api:\n",
        "    Type: AWS::Serverless::GraphQLApi\n",
        "    Properties:\n",
        "      SchemaUri: schema.graphql\n",
        "      Resolvers:\n",
        "        Query:\n",
        "          getPost: {CodeUri: resolvers/getPost.js}\n",
        "          listPosts: {CodeUri: resolvers/listPosts.js}\n",
        "        Mutation:\n",
        "          addPost: {Runtime: APPSYNC_JS}\n",
        "      Functions:\n",
        "        f1:\n",
        "          CodeUri: functions/f1.js\n",
    ));
    let found: Vec<_> = candidates(&t).into_iter().map(|c| c.property).collect();
    assert_eq!(
        found,
        vec![
            "SchemaUri",
            "Resolvers.Query.getPost.CodeUri",
            "Resolvers.Query.listPosts.CodeUri",
            "Functions.f1.CodeUri"
        ]
    );
}

/// The mapping-form rows and their keys, as aws-cli and SAM write them (SPEC B §1).
#[test]
fn mapping_rows_have_aws_cli_keys() {
    let map = |t: &str, p: &str| {
        RULES
            .iter()
            .find(|r| r.resource_type == t && r.property == p)
            .map(|r| r.form)
    };
    let form = |bucket, key, version| {
        Some(Form::Map {
            bucket,
            key,
            version,
        })
    };
    let lambda = form("S3Bucket", "S3Key", Some("S3ObjectVersion"));
    let bkv = form("Bucket", "Key", Some("Version"));
    assert_eq!(map("AWS::Lambda::Function", "Code"), lambda);
    assert_eq!(map("AWS::Lambda::LayerVersion", "Content"), lambda);
    assert_eq!(map("AWS::Serverless::StateMachine", "DefinitionUri"), bkv);
    assert_eq!(map("AWS::ApiGateway::RestApi", "BodyS3Location"), bkv);
    assert_eq!(map("AWS::ApiGatewayV2::Api", "BodyS3Location"), bkv);
    assert_eq!(
        map("AWS::StepFunctions::StateMachine", "DefinitionS3Location"),
        bkv
    );
    assert_eq!(
        map("AWS::ElasticBeanstalk::ApplicationVersion", "SourceBundle"),
        form("S3Bucket", "S3Key", None)
    );
    assert_eq!(
        map("AWS::CodeCommit::Repository", "Code.S3"),
        form("Bucket", "Key", Some("ObjectVersion"))
    );
    let maps = RULES
        .iter()
        .filter(|r| matches!(r.form, Form::Map { .. }))
        .count();
    assert_eq!(maps, 8, "every mapping-form row is checked above");
}

#[test]
fn s3_urls_parse_as_aws_cli_parses_them() {
    let url = |bucket: &str, key: &str, version: Option<&str>| {
        Ok(S3Url {
            bucket: bucket.into(),
            key: key.into(),
            version: version.map(Into::into),
        })
    };
    assert_eq!(parse_s3_url("s3://b/k"), url("b", "k", None));
    assert_eq!(
        parse_s3_url("s3://my-bucket/dir/code.zip?versionId=3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
        url(
            "my-bucket",
            "dir/code.zip",
            Some("3sL4kqtJlcpXroDTDmJ rmSpXd3dIbrHY")
        )
    );
    // Leading slashes of the path go; the key is not percent-decoded.
    assert_eq!(parse_s3_url("s3://b//a%20b"), url("b", "a%20b", None));
    // Other query parameters, a fragment, `;params` of the last segment: dropped.
    assert_eq!(
        parse_s3_url("s3://b/k?x=1&versionId=v%2F1#frag"),
        url("b", "k", Some("v/1"))
    );
    assert_eq!(parse_s3_url("s3://b/d;x/k;p"), url("b", "d;x/k", None));
    // Not exactly one non-empty versionId: no version.
    assert_eq!(
        parse_s3_url("s3://b/k?versionId=1&versionId=2"),
        url("b", "k", None)
    );
    assert_eq!(parse_s3_url("s3://b/k?versionId="), url("b", "k", None));
    assert_eq!(parse_s3_url("s3://b/k?versionId"), url("b", "k", None));
    assert!(parse_s3_url("s3://bucket").is_err());
    assert!(parse_s3_url("s3://bucket/").is_err());
    assert!(parse_s3_url("s3:///key").is_err());
    assert!(parse_s3_url("s3://b?versionId=1").is_err());
    assert!(parse_s3_url("https://b/k").is_err());
}

#[test]
fn s3_urls_are_values_only_on_mapping_rows() {
    let t = parse(concat!(
        "Resources:\n",
        "  F:\n    Type: AWS::Lambda::Function\n    Properties:\n",
        "      Code: s3://b/k?versionId=7\n",
        "  G:\n    Type: AWS::Serverless::Function\n    Properties:\n",
        "      CodeUri: s3://b/k?versionId=7\n",
        "  H:\n    Type: AWS::Lambda::Function\n    Properties:\n",
        "      Code: s3://bucket-only\n",
        "  I:\n    Type: AWS::Lambda::Function\n    Properties:\n",
        "      Code: !Sub s3://${B}/k\n",
    ));
    let values: Vec<_> = candidates(&t).into_iter().map(|c| c.value).collect();
    assert_eq!(
        values,
        vec![
            Value::S3(S3Url {
                bucket: "b".into(),
                key: "k".into(),
                version: Some("7".into())
            }),
            Value::Skip,
            Value::BadS3Url {
                reason: "the S3 URL names no object key (expected s3://bucket/key)"
            },
            Value::Skip,
        ]
    );
}

#[test]
fn s3_entries_keep_the_version_only_where_the_row_has_a_key() {
    let url = S3Url {
        bucket: "b".into(),
        key: "k".into(),
        version: Some("v".into()),
    };
    let entries = |t: &str| {
        rules_for(t)
            .next()
            .and_then(|r| r.form.s3_entries(&url))
            .map(|e| {
                e.into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(
        entries("AWS::Lambda::Function").unwrap(),
        ["S3Bucket=b", "S3Key=k", "S3ObjectVersion=v"]
    );
    assert_eq!(
        entries("AWS::ElasticBeanstalk::ApplicationVersion").unwrap(),
        ["S3Bucket=b", "S3Key=k"]
    );
    assert_eq!(entries("AWS::Serverless::Function"), None);
}

#[test]
fn malformed_loops_are_found_with_their_names() {
    let t = parse(concat!(
        "Resources:\n",
        "  Fn::ForEach::Two: [Id, {'Res${Id}': {}}]\n",
        "  Fn::ForEach::Four: [Id, [a], {'R${Id}': {Type: X}}, extra]\n",
        "  Fn::ForEach::Scalar: hello\n",
        "  Fn::ForEach::NotMap: [Id, [a], [x]]\n",
        "  Fn::ForEach::Good:\n",
        "    - Id\n",
        "    - [a, b]\n",
        "    - Fn::ForEach::Inner: [J, [c], !Ref X]\n",
        "      R${Id}:\n",
        "        Type: AWS::SNS::Topic\n",
        "  Plain:\n",
        "    Type: AWS::SNS::Topic\n",
    ));
    let found: Vec<_> = malformed_loops(&t)
        .into_iter()
        .map(|p| (p.name, p.node.span.start.line, p.message))
        .collect();
    let list = "invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found";
    let map =
        "invalid \"Fn::ForEach::\" loop: its third entry (the output map) must be a mapping, found";
    assert_eq!(
        found,
        vec![
            ("Fn::ForEach::Two", 2, format!("{list} 2 entries")),
            ("Fn::ForEach::Four", 3, format!("{list} 4 entries")),
            ("Fn::ForEach::Scalar", 4, format!("{list} a string")),
            ("Fn::ForEach::NotMap", 5, format!("{map} a list")),
            ("Fn::ForEach::Inner", 9, format!("{map} a !Ref value")),
        ]
    );
}
