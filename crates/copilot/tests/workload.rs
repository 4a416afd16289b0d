//! The workload stack template and parameters file (SPEC A11, A12, B §3.5).

mod common;

use std::path::Path;

use cfn_yaml::{Node, NodeKind, Template};
use common::merged;
use copilot_model::{Target, workload_params_json, workload_template};

fn keys(n: &Node) -> Vec<&str> {
    n.entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect()
}

fn parse(text: &str) -> Template {
    Template::parse(Path::new("stack.yml"), text.to_string())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const TEMPLATE: &str = "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Name: {Type: String}\n  ServiceName: {Type: String}\n  Queue: {Type: String}\nResources:\n  T: {Type: AWS::SNS::Topic}\nOutputs:\n  TopicArn:\n    Value: !Ref T\n  TopicName:\n    Value: !GetAtt T.TopicName\n";
const PARAMS: &str = "Parameters:\n    ServiceName: !GetAtt Service.Name\n    Queue:   # from the service stack\n        Fn::GetAtt: [Queue, QueueName]\n";

#[test]
fn template_with_addons() {
    let (_d, a) = merged(&[("t.yml", TEMPLATE), ("addons.parameters.yml", PARAMS)]);
    let text = workload_template(Some(&a));
    let t = parse(&text);
    let root = t.root();
    assert_eq!(
        keys(root),
        [
            "AWSTemplateFormatVersion",
            "Description",
            "Metadata",
            "Parameters",
            "Conditions",
            "Resources",
            "Outputs"
        ]
    );
    assert_eq!(
        keys(root.get("Parameters").unwrap()),
        ["AppName", "EnvName", "WorkloadName", "AddonsTemplateURL"]
    );
    let url = root.get_path(&["Parameters", "AddonsTemplateURL"]).unwrap();
    assert_eq!(url.get("Type").and_then(Node::as_scalar), Some("String"));
    assert_eq!(url.get("Default").and_then(Node::as_scalar), Some(""));

    let has = root.get_path(&["Conditions", "HasAddons"]).unwrap();
    assert_eq!(has.tag.as_deref(), Some("!Not"));
    assert!(text.contains("HasAddons: !Not [!Equals [!Ref AddonsTemplateURL, \"\"]]\n"));

    assert_eq!(keys(root.get("Resources").unwrap()), ["AddonsStack"]);
    let stack = root.get_path(&["Resources", "AddonsStack"]).unwrap();
    assert_eq!(
        stack.get("Type").and_then(Node::as_scalar),
        Some("AWS::CloudFormation::Stack")
    );
    assert_eq!(
        stack.get("Condition").and_then(Node::as_scalar),
        Some("HasAddons")
    );
    assert_eq!(
        stack
            .get_path(&["Metadata", "aws:copilot:description"])
            .and_then(Node::as_scalar),
        Some("An Addons CloudFormation Stack for your additional AWS resources")
    );
    let url = stack.get_path(&["Properties", "TemplateURL"]).unwrap();
    assert_eq!(
        (url.tag.as_deref(), url.as_scalar()),
        (Some("!Ref"), Some("AddonsTemplateURL"))
    );
    let params = stack.get_path(&["Properties", "Parameters"]).unwrap();
    assert_eq!(keys(params), ["App", "Env", "Name", "ServiceName", "Queue"]);
    for (k, v) in [
        ("App", "AppName"),
        ("Env", "EnvName"),
        ("Name", "WorkloadName"),
    ] {
        let n = params.get(k).unwrap();
        assert_eq!((n.tag.as_deref(), n.as_scalar()), (Some("!Ref"), Some(v)));
    }
    // Verbatim, re-indented.
    assert!(
        text.contains("        ServiceName: !GetAtt Service.Name\n"),
        "{text}"
    );
    assert!(
        text.contains("        Queue:   # from the service stack\n            Fn::GetAtt: [Queue, QueueName]\n"),
        "{text}"
    );
    let sn = params.get("ServiceName").unwrap();
    assert_eq!(
        (sn.tag.as_deref(), sn.as_scalar()),
        (Some("!GetAtt"), Some("Service.Name"))
    );
    assert!(matches!(
        params.get_path(&["Queue", "Fn::GetAtt"]).map(|n| &n.kind),
        Some(NodeKind::Sequence(_))
    ));

    let outputs = root.get("Outputs").unwrap();
    assert_eq!(keys(outputs), ["TopicArn", "TopicName"]);
    for o in ["TopicArn", "TopicName"] {
        let out = outputs.get(o).unwrap();
        assert_eq!(
            out.get("Condition").and_then(Node::as_scalar),
            Some("HasAddons")
        );
        let v = out.get("Value").unwrap();
        let want = format!("AddonsStack.Outputs.{o}");
        assert_eq!(
            (v.tag.as_deref(), v.as_scalar()),
            (Some("!GetAtt"), Some(want.as_str()))
        );
    }
    // Also valid as JSON (long forms).
    let json = t.render_json(&cfn_yaml::Edits::new()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["Outputs"]["TopicArn"]["Value"]["Fn::GetAtt"],
        serde_json::json!(["AddonsStack", "Outputs.TopicArn"])
    );
}

#[test]
fn block_scalar_parameter_values_keep_their_content() {
    let template = "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Name: {Type: String}\n  Script: {Type: String}\n";
    let params = "Parameters:\n  Script: |\n    echo a\n      \n    echo b\n";
    let (_d, a) = merged(&[("t.yml", template), ("addons.parameters.yml", params)]);
    let text = workload_template(Some(&a));
    let t = parse(&text);
    let v = t
        .root()
        .get_path(&[
            "Resources",
            "AddonsStack",
            "Properties",
            "Parameters",
            "Script",
        ])
        .and_then(Node::as_scalar);
    assert_eq!(v, Some("echo a\n  \necho b\n"));
}

#[test]
fn template_without_addons() {
    let text = workload_template(None);
    let t = parse(&text);
    assert!(t.root().get("Outputs").is_none());
    let params = t
        .root()
        .get_path(&["Resources", "AddonsStack", "Properties", "Parameters"]);
    assert_eq!(keys(params.unwrap()), ["App", "Env", "Name"]);
}

#[test]
fn params_file() {
    let target = Target::new("app", "test", "api");
    assert_eq!(target.stack_name(), "app-test-api");
    let json = workload_params_json(
        &target,
        "https://b.s3.us-east-1.amazonaws.com/manual/addons/api/k.yml",
        &[
            ("team".into(), "a \"quoted\" name".into()),
            ("copilot-service".into(), "spoof".into()),
        ],
    );
    assert_eq!(
        json,
        r#"{
  "Parameters": {
    "AppName": "app",
    "EnvName": "test",
    "WorkloadName": "api",
    "AddonsTemplateURL": "https://b.s3.us-east-1.amazonaws.com/manual/addons/api/k.yml"
  },
  "Tags": {
    "copilot-application": "app",
    "copilot-environment": "test",
    "copilot-service": "api",
    "copilot-lite:managed": "true",
    "team": "a \"quoted\" name"
  }
}
"#
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Tags"]["team"], "a \"quoted\" name");
    let empty = workload_params_json(&Target::new("a", "e", "s"), "", &[]);
    let v: serde_json::Value = serde_json::from_str(&empty).unwrap();
    assert_eq!(v["Parameters"]["AddonsTemplateURL"], "");
}

#[test]
fn the_own_template_carries_the_mark() {
    let t = parse(&workload_template(None));
    assert_eq!(
        t.root()
            .get_path(&[
                "Metadata",
                copilot_model::names::MANAGED_METADATA,
                "Managed"
            ])
            .and_then(Node::as_scalar),
        Some(copilot_model::names::MANAGED_VALUE)
    );
}

const ENV_TEMPLATE: &str = "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Retention: {Type: Number}\nResources:\n  Shared: {Type: AWS::SQS::Queue}\nOutputs:\n  SharedQueueUrl:\n    Value: !Ref Shared\n    Export:\n      Name: !Sub '${App}-${Env}-SharedQueueUrl'\n";

#[test]
fn environment_stack_template_and_parameters() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("copilot/environments/addons");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("queue.yml"), ENV_TEMPLATE).unwrap();
    std::fs::write(
        dir.join("addons.parameters.yml"),
        "Parameters:\n  Retention: 7 # days\n",
    )
    .unwrap();
    let a = copilot_workspace::Addons::load_kind(&dir, copilot_workspace::AddonsKind::Environment)
        .unwrap()
        .unwrap();
    let text = copilot_model::environment_template(Some(&a));
    let t = parse(&text);
    let root = t.root();
    assert_eq!(
        root.get("Description").and_then(Node::as_scalar),
        Some(copilot_model::ENV_DESCRIPTION)
    );
    assert_eq!(
        root.get_path(&["Metadata", "copilot-lite", "Managed"])
            .and_then(Node::as_scalar),
        Some("true")
    );
    assert_eq!(
        keys(root.get("Parameters").unwrap()),
        ["AppName", "EnvironmentName", "AddonsTemplateURL"]
    );
    let params = root
        .get_path(&["Resources", "AddonsStack", "Properties", "Parameters"])
        .unwrap();
    assert_eq!(keys(params), ["App", "Env", "Retention"]);
    assert_eq!(params.get("App").and_then(Node::as_scalar), Some("AppName"));
    assert_eq!(params.get("App").unwrap().tag.as_deref(), Some("!Ref"));
    assert_eq!(
        params.get("Env").and_then(Node::as_scalar),
        Some("EnvironmentName")
    );
    assert!(text.contains("        Retention: 7 # days\n"), "{text}");
    let out = root.get_path(&["Outputs", "SharedQueueUrl"]).unwrap();
    assert_eq!(
        out.get("Value").and_then(Node::as_scalar),
        Some("AddonsStack.Outputs.SharedQueueUrl")
    );

    let target = copilot_model::EnvTarget::new("app", "test");
    assert_eq!(target.stack_name(), "app-test");
    let json: serde_json::Value = serde_json::from_str(&copilot_model::environment_params_json(
        &target,
        "https://b.s3.amazonaws.com/k.yml",
        &[("team".into(), "core".into())],
    ))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "Parameters": {
                "AppName": "app",
                "EnvironmentName": "test",
                "AddonsTemplateURL": "https://b.s3.amazonaws.com/k.yml"
            },
            "Tags": {
                "copilot-application": "app",
                "copilot-environment": "test",
                "copilot-lite:managed": "true",
                "team": "core"
            }
        })
    );
    let keys = copilot_model::KeyLayout::new(Some("p"));
    assert_eq!(
        keys.env_addon_assets(),
        "p/manual/addons/environments/assets"
    );
    assert_eq!(keys.env_addons_templates(), "p/manual/addons/environments");
}
