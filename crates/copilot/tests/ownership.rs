//! The ownership rules on real Copilot-rendered stacks (`../shared/copilot-templates/`, read in
//! place) and on stacks that are not of the expected shape.

mod common;

use std::path::{Path, PathBuf};

use cfn_yaml::{Node, Template};
use common::merged;
use copilot_model::names::{MANAGED_TAG, MANAGED_VALUE};
use copilot_model::{CopilotStack, DeployedStack, Ownership, Target, classify, workload_template};

/// `../shared/copilot-templates` beside the repository. Its absence is a failure, not a skip:
/// CI always has it.
fn templates_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/copilot-templates");
    assert!(
        dir.is_dir(),
        "{} is missing: the tests read Copilot's templates in place (../shared beside the repository)",
        dir.display()
    );
    dir
}

/// (template file, params file) of every Copilot workload stack in the test data.
const WORKLOADS: [(&str, &str); 4] = [
    (
        "workloads_backend_simple-template.yml",
        "workloads_backend_simple-params.json",
    ),
    (
        "workloads_svc-test.stack.yml",
        "workloads_svc-test.params.json",
    ),
    (
        "workloads_worker-test.stack.yml",
        "workloads_worker-test.params.json",
    ),
    (
        "workloads_job-test.stack.yml",
        "workloads_job-test.params.json",
    ),
];

/// A Copilot stack as DescribeStacks and GetTemplate would show it: the template, the tags and
/// parameter keys of its params file; plus the target those tags name.
fn copilot_stack(template: &str, params: &str) -> (Target, DeployedStack) {
    let dir = templates_dir();
    let text = std::fs::read_to_string(dir.join(template)).expect("template");
    let params: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(params)).expect("params"))
            .expect("params JSON");
    let tags: Vec<(String, String)> = params["Tags"]
        .as_object()
        .expect("Tags")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("tag value").to_owned()))
        .collect();
    let tag = |k: &str| {
        tags.iter()
            .find(|(t, _)| t == k)
            .map(|(_, v)| v.clone())
            .expect("tag")
    };
    let target = Target::new(
        tag("copilot-application"),
        tag("copilot-environment"),
        tag("copilot-service"),
    );
    let deployed = DeployedStack {
        status: "UPDATE_COMPLETE".into(),
        tags,
        parameters: params["Parameters"]
            .as_object()
            .expect("Parameters")
            .keys()
            .cloned()
            .collect(),
        template: Some(text),
    };
    (target, deployed)
}

fn expect_copilot(target: &Target, d: &DeployedStack) -> CopilotStack {
    match classify(target, Some(d)) {
        Ownership::Copilot(s) => *s,
        other => panic!("expected a Copilot stack, got {other:?}"),
    }
}

fn expect_refused(target: &Target, d: &DeployedStack) -> String {
    match classify(target, Some(d)) {
        Ownership::Refused(r) => {
            assert_eq!(r.stack, target.stack_name());
            r.to_string()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn parse(text: &str) -> Template {
    Template::parse(Path::new("t.yml"), text.to_owned()).unwrap_or_else(|e| panic!("{e}"))
}

fn keys(n: &Node) -> Vec<&str> {
    n.entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect()
}

/// The source text of every top-level section and every resource but `AddonsStack`.
fn untouched_parts(t: &Template) -> Vec<(String, String)> {
    let src = t.source();
    let mut parts = Vec::new();
    for (k, v) in t.root().entries() {
        let key = k.as_scalar().unwrap_or_default().to_owned();
        if key == "Resources" {
            for (rk, rv) in v.entries() {
                let id = rk.as_scalar().unwrap_or_default();
                if id != "AddonsStack" {
                    parts.push((
                        format!("Resources.{id}"),
                        src[rk.span.start.byte..rv.span.end.byte].to_owned(),
                    ));
                }
            }
        } else {
            parts.push((key, src[k.span.start.byte..v.span.end.byte].to_owned()));
        }
    }
    parts
}

const ADDON: &str = "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Name: {Type: String}\n  ServiceName: {Type: String}\n  Queue: {Type: String}\nResources:\n  T: {Type: AWS::SNS::Topic}\n";
const PARAMS: &str = "Parameters:\n  ServiceName: !GetAtt Service.Name\n  Queue:   # from the service stack\n    Fn::GetAtt: [Queue, QueueName]\n";
const OTHER_ADDON: &str = "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Name: {Type: String}\n  ServiceName: {Type: String}\nResources:\n  T: {Type: AWS::SNS::Topic}\n";
const OTHER_PARAMS: &str = "Parameters:\n  ServiceName: !Ref WorkloadName\n";

#[test]
fn every_copilot_workload_stack_is_recognised() {
    for (template, params) in WORKLOADS {
        let (target, d) = copilot_stack(template, params);
        let s = expect_copilot(&target, &d);
        assert_eq!(s.template(), d.template.as_deref().unwrap(), "{template}");
        assert_eq!(s.tags(), d.tags.as_slice());
        let kept = s.kept_parameters();
        assert_eq!(kept.len(), d.parameters.len() - 1, "{template}");
        assert!(!kept.iter().any(|p| p == "AddonsTemplateURL"));
        assert!(kept.iter().any(|p| p == "WorkloadName"));
        assert_eq!(CopilotStack::allowed_changes(), ["AddonsStack"]);
        assert!(s.deployed_extra_parameters().is_empty(), "{template}");
    }
}

#[test]
fn without_addon_parameters_the_template_is_byte_identical() {
    for (template, params) in WORKLOADS {
        let (target, d) = copilot_stack(template, params);
        let s = expect_copilot(&target, &d);
        assert_eq!(
            s.with_addons(&[]),
            *d.template.as_ref().unwrap(),
            "{template}"
        );
    }
}

#[test]
fn the_addons_edit_changes_only_the_addons_stack_parameters() {
    let (_d1, addons) = merged(&[("t.yml", ADDON), ("addons.parameters.yml", PARAMS)]);
    let (_d2, other) = merged(&[
        ("t.yml", OTHER_ADDON),
        ("addons.parameters.yml", OTHER_PARAMS),
    ]);
    for (template, params) in WORKLOADS {
        let (target, d) = copilot_stack(template, params);
        let original = d.template.clone().unwrap();
        let s = expect_copilot(&target, &d);
        let edited = s.with_addons(addons.parameters());
        assert_ne!(edited, original);

        // Everything but AddonsStack is byte-identical, in the same order.
        let (before, after) = (parse(&original), parse(&edited));
        assert_eq!(
            untouched_parts(&before),
            untouched_parts(&after),
            "{template}"
        );
        // Inside AddonsStack, only the parameters after App/Env/Name changed.
        let stack = after
            .root()
            .get_path(&["Resources", "AddonsStack"])
            .unwrap();
        let p = stack.get_path(&["Properties", "Parameters"]).unwrap();
        assert_eq!(
            keys(p),
            ["App", "Env", "Name", "ServiceName", "Queue"],
            "{template}"
        );
        let sn = p.get("ServiceName").unwrap();
        assert_eq!(
            (sn.tag.as_deref(), sn.as_scalar()),
            (Some("!GetAtt"), Some("Service.Name"))
        );
        let q = p.get_path(&["Queue", "Fn::GetAtt"]).unwrap();
        assert!(matches!(q.kind, cfn_yaml::NodeKind::Sequence(_)));
        let removed: String = {
            // The edit is an insertion: deleting the inserted text gives the original back.
            let diff = similar::TextDiff::from_chars(&original, &edited);
            diff.iter_all_changes()
                .filter(|c| c.tag() == similar::ChangeTag::Delete)
                .map(|c| c.value().to_owned())
                .collect()
        };
        assert_eq!(removed, "", "{template}: the edit removed text");
        // Copilot's indentation: the entries line up with App.
        assert!(
            edited.contains(
                "        Name: !Ref WorkloadName\n        ServiceName: !GetAtt Service.Name\n        Queue:   # from the service stack\n          Fn::GetAtt: [Queue, QueueName]\n"
            ),
            "{template}:\n{edited}"
        );

        // The edited stack, deployed, is still Copilot's; a second edit replaces the entries
        // and an edit with none gives the original back, byte for byte.
        let d2 = DeployedStack {
            template: Some(edited.clone()),
            ..d.clone()
        };
        let s2 = expect_copilot(&target, &d2);
        assert_eq!(s2.deployed_extra_parameters(), ["ServiceName", "Queue"]);
        assert_eq!(s2.with_addons(addons.parameters()), edited);
        let edited2 = s2.with_addons(other.parameters());
        let p2 = parse(&edited2);
        assert_eq!(
            keys(
                p2.root()
                    .get_path(&["Resources", "AddonsStack", "Properties", "Parameters"])
                    .unwrap()
            ),
            ["App", "Env", "Name", "ServiceName"]
        );
        assert_eq!(untouched_parts(&before), untouched_parts(&p2));
        assert_eq!(s2.with_addons(&[]), original, "{template}");
    }
}

#[test]
fn copilot_stacks_of_another_workload_are_refused() {
    let (target, d) = copilot_stack(WORKLOADS[0].0, WORKLOADS[0].1);
    for other in [
        Target::new(target.app.clone(), target.env.clone(), "other"),
        Target::new(target.app.clone(), "prod", target.svc.clone()),
        Target::new("other-app", target.env.clone(), target.svc.clone()),
    ] {
        let why = expect_refused(&other, &d);
        assert!(why.contains("belongs to another Copilot workload"), "{why}");
        assert!(why.contains("copilot-service=simple-backend"), "{why}");
    }
}

#[test]
fn unexpected_shapes_are_refused_not_guessed() {
    let (target, d) = copilot_stack(WORKLOADS[1].0, WORKLOADS[1].1);
    let text = d.template.clone().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "no AddonsStack",
            text.replace("  AddonsStack:\n", "  AddonsStackRenamed:\n"),
            "no resource AddonsStack",
        ),
        (
            "a literal TemplateURL",
            text.replace(
                "TemplateURL: !Ref AddonsTemplateURL",
                "TemplateURL: https://example.com/t.yml",
            ),
            "not a Ref to AddonsTemplateURL",
        ),
        (
            "no condition",
            text.replace("    Condition: HasAddons\n    Properties:\n      Parameters:\n        App: !Ref AppName", "    Properties:\n      Parameters:\n        App: !Ref AppName"),
            "not conditioned on HasAddons",
        ),
        (
            "parameters in another order",
            text.replace(
                "        App: !Ref AppName\n        Env: !Ref EnvName\n",
                "        Env: !Ref EnvName\n        App: !Ref AppName\n",
            ),
            "does not start with App, Env and Name",
        ),
        (
            "flow parameters",
            text.replace(
                "      Parameters:\n        App: !Ref AppName\n        Env: !Ref EnvName\n        Name: !Ref WorkloadName\n",
                "      Parameters: {App: !Ref AppName, Env: !Ref EnvName, Name: !Ref WorkloadName}\n",
            ),
            "not a block mapping",
        ),
        (
            "another description",
            text.replace(
                "Description: CloudFormation template that represents",
                "Description: Hand-written",
            ),
            "Description",
        ),
        (
            "no version",
            text.replace("Metadata:\n  Version: v1.29.0\n", ""),
            "Metadata.Version",
        ),
        ("not YAML", "{\"Resources\": {}}".to_owned(), "it is JSON"),
        ("not a template", "a: [".to_owned(), "does not parse"),
    ];
    for (what, template, want) in cases {
        assert_ne!(template, text, "{what}: the mutation did not apply");
        let d = DeployedStack {
            template: Some(template),
            ..d.clone()
        };
        let why = expect_refused(&target, &d);
        assert!(why.contains(want), "{what}: {why}");
        assert!(why.contains("left as it is"), "{what}: {why}");
    }
    let d = DeployedStack {
        template: None,
        ..d.clone()
    };
    assert!(expect_refused(&target, &d).contains("no deployed template"));
}

#[test]
fn copilot_stacks_that_cannot_be_updated_are_refused() {
    let (target, d) = copilot_stack(WORKLOADS[2].0, WORKLOADS[2].1);
    for status in [
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "DELETE_FAILED",
        "UPDATE_IN_PROGRESS",
        "REVIEW_IN_PROGRESS",
    ] {
        let d = DeployedStack {
            status: status.into(),
            ..d.clone()
        };
        let why = expect_refused(&target, &d);
        assert!(why.contains(status), "{why}");
    }
    for status in [
        "CREATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
    ] {
        let d = DeployedStack {
            status: status.into(),
            ..d.clone()
        };
        expect_copilot(&target, &d);
    }
}

#[test]
fn stacks_of_nobody_we_know_are_refused() {
    let target = Target::new("app", "test", "api");
    let foreign = DeployedStack {
        status: "CREATE_COMPLETE".into(),
        tags: vec![],
        parameters: vec![],
        template: Some("Resources:\n  Q: {Type: AWS::SQS::Queue}\n".into()),
    };
    let why = expect_refused(&target, &foreign);
    assert!(
        why.contains("neither by Copilot nor by copilot-lite"),
        "{why}"
    );
    // A user tag is not a mark.
    let tagged = DeployedStack {
        tags: vec![("team".into(), "core".into())],
        ..foreign.clone()
    };
    expect_refused(&target, &tagged);
    // Copilot's environment stack is not a workload stack.
    let env = DeployedStack {
        status: "UPDATE_COMPLETE".into(),
        tags: vec![
            ("copilot-application".into(), "app".into()),
            ("copilot-environment".into(), "test".into()),
        ],
        parameters: vec!["AppName".into(), "EnvironmentName".into()],
        template: Some(
            std::fs::read_to_string(
                templates_dir().join("environments_template-with-basic-manifest.yml"),
            )
            .unwrap(),
        ),
    };
    let why = expect_refused(&target, &env);
    assert!(why.contains("another Copilot workload"), "{why}");
}

#[test]
fn copilot_lite_stacks_are_recognised_by_their_mark() {
    let target = Target::new("app", "test", "api");
    let own = DeployedStack {
        status: "UPDATE_COMPLETE".into(),
        tags: target.own_stack_tags(&[]),
        parameters: vec!["AddonsTemplateURL".into()],
        template: Some(workload_template(None)),
    };
    assert!(matches!(classify(&target, Some(&own)), Ownership::Own));
    // The tag alone (template unreadable), or the Metadata alone (tags lost), is enough.
    let tag_only = DeployedStack {
        template: None,
        ..own.clone()
    };
    assert!(matches!(classify(&target, Some(&tag_only)), Ownership::Own));
    let meta_only = DeployedStack {
        tags: own
            .tags
            .iter()
            .filter(|(k, _)| k != MANAGED_TAG)
            .cloned()
            .collect(),
        ..own.clone()
    };
    assert!(matches!(
        classify(&target, Some(&meta_only)),
        Ownership::Own
    ));
    // Stacks of copilot-lite before the mark: its Description and only AddonsStack.
    let legacy = DeployedStack {
        tags: meta_only.tags.clone(),
        template: Some(
            workload_template(None)
                .replace("Metadata:\n  copilot-lite:\n    Managed: 'true'\n", ""),
        ),
        ..own.clone()
    };
    assert!(matches!(classify(&target, Some(&legacy)), Ownership::Own));
    // The mark for another service of the app is not ours to change.
    let why = expect_refused(&Target::new("app", "test", "web"), &own);
    assert!(why.contains("tagged for another service"), "{why}");
    // A mark with another value is no mark.
    let not_marked = DeployedStack {
        tags: vec![(MANAGED_TAG.into(), format!("{MANAGED_VALUE}-not"))],
        template: Some("Resources:\n  Q: {Type: AWS::SQS::Queue}\n".into()),
        ..own.clone()
    };
    expect_refused(&target, &not_marked);
    assert!(matches!(classify(&target, None), Ownership::Absent));
}
