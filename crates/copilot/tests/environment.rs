//! The environment stack `<app>-<env>`: whose it is, and the only edit made to Copilot's
//! (its `AddonsStack`), on the Copilot-rendered environment template of `../shared`.

use std::path::Path;

use cfn_yaml::{Node, Template};
use copilot_model::names::{MANAGED_TAG, MANAGED_VALUE};
use copilot_model::{
    CopilotEnvStack, DeployedStack, EnvOwnership, EnvTarget, classify_env, environment_template,
};
use copilot_workspace::AddonParameter;

fn copilot_env_template() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/copilot-templates/environments_template-with-basic-manifest.yml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the tests read Copilot's templates in place: ../shared beside the repository)",
            path.display()
        )
    })
}

fn target() -> EnvTarget {
    EnvTarget::new("app", "test")
}

fn copilot_tags() -> Vec<(String, String)> {
    vec![
        ("copilot-application".into(), "app".into()),
        ("copilot-environment".into(), "test".into()),
    ]
}

/// Copilot's environment stack as CloudFormation describes it: every parameter of the
/// template, Copilot's tags.
fn deployed(template: &str, tags: Vec<(String, String)>) -> DeployedStack {
    let t = Template::parse(Path::new("env.yml"), template.to_owned()).unwrap();
    let parameters = t
        .root()
        .get("Parameters")
        .map(|p| {
            p.entries()
                .iter()
                .filter_map(|(k, _)| k.as_scalar().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    DeployedStack {
        status: "UPDATE_COMPLETE".into(),
        tags,
        parameters,
        template: Some(template.to_owned()),
    }
}

fn copilot_stack(template: &str) -> CopilotEnvStack {
    match classify_env(&target(), Some(&deployed(template, copilot_tags()))) {
        EnvOwnership::Copilot(s) => *s,
        other => panic!("not recognised as Copilot's: {other:?}"),
    }
}

fn param(key: &str, entry: &str) -> AddonParameter {
    AddonParameter {
        key: key.into(),
        entry: entry.into(),
        location: cfn_yaml::Located::at_line_col("p.yml", "Retention: 7\n".into(), 1, 1, 9),
    }
}

const URL: &str = "https://artifacts.s3.us-east-1.amazonaws.com/manual/addons/environments/abc.yml";

#[test]
fn copilots_environment_stack_gains_updates_and_loses_its_addons_and_nothing_else() {
    let original = copilot_env_template();
    let stack = copilot_stack(&original);
    assert!(!stack.has_addons());
    assert_eq!(stack.template(), original);
    assert_eq!(stack.tags(), copilot_tags());
    assert!(
        stack
            .kept_parameters()
            .contains(&"EnvironmentName".to_owned())
    );
    assert_eq!(CopilotEnvStack::allowed_changes(), ["AddonsStack"]);

    // Added: the original bytes with one entry inserted after the last resource.
    let params = [param("Retention", "Retention: 7 # days")];
    let added = stack.with_addons(Some((URL, &params)));
    let inserted = added.len() - original.len();
    let at = (0..original.len())
        .find(|&i| original.as_bytes()[i] != added.as_bytes()[i])
        .unwrap();
    assert_eq!(&added[..at], &original[..at]);
    assert_eq!(&added[at + inserted..], &original[at..]);
    let entry = &added[at..at + inserted];
    assert!(entry.starts_with("  AddonsStack:\n"), "{entry}");
    assert!(original[..at].ends_with('\n'));
    assert!(
        original[at..].starts_with("Outputs:\n"),
        "inserted at the end of Resources"
    );
    let t = Template::parse(Path::new("env.yml"), added.clone()).unwrap();
    let addons = t.root().get_path(&["Resources", "AddonsStack"]).unwrap();
    assert_eq!(
        addons.get("Type").and_then(Node::as_scalar),
        Some("AWS::CloudFormation::Stack")
    );
    assert_eq!(
        addons
            .get_path(&["Properties", "TemplateURL"])
            .and_then(Node::as_scalar),
        Some(URL)
    );
    let p = addons.get_path(&["Properties", "Parameters"]).unwrap();
    let keys: Vec<&str> = p
        .entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect();
    assert_eq!(keys, ["App", "Env", "Retention"]);
    assert_eq!(p.get("Env").unwrap().tag.as_deref(), Some("!Ref"));
    assert_eq!(
        p.get("Env").and_then(Node::as_scalar),
        Some("EnvironmentName")
    );
    assert!(entry.contains("        Retention: 7 # days\n"));
    // The resources before are all there, in their order.
    let names = |t: &Template| -> Vec<String> {
        t.root()
            .get("Resources")
            .unwrap()
            .entries()
            .iter()
            .filter_map(|(k, _)| k.as_scalar().map(str::to_owned))
            .collect()
    };
    let before = Template::parse(Path::new("env.yml"), original.clone()).unwrap();
    let mut expected = names(&before);
    expected.push("AddonsStack".into());
    assert_eq!(names(&t), expected);

    // Updated (a new URL, no extra parameter): the entry replaced, the rest unchanged.
    let deployed_with = copilot_stack(&added);
    assert!(deployed_with.has_addons());
    let url2 = URL.replace("abc", "def");
    let updated = deployed_with.with_addons(Some((&url2, &[])));
    assert_eq!(&updated[..at], &original[..at]);
    assert!(updated.ends_with(&original[at..]));
    assert!(updated.contains(&format!("    TemplateURL: {url2}\n")));
    assert!(!updated.contains("Retention"));
    // The same addons again: the same text (a no-op deploy changes nothing).
    assert_eq!(deployed_with.with_addons(Some((URL, &params))), added);

    // Removed: exactly the original template.
    assert_eq!(deployed_with.with_addons(None), original);
    assert_eq!(stack.with_addons(None), original);
}

#[test]
fn environment_stacks_that_are_not_copilots_to_edit_are_refused() {
    let original = copilot_env_template();
    let refused = |d: DeployedStack| match classify_env(&target(), Some(&d)) {
        EnvOwnership::Refused(r) => r.to_string(),
        other => panic!("not refused: {other:?}"),
    };
    // No tags at all: nobody's we know.
    let r = refused(deployed(&original, vec![]));
    assert!(
        r.starts_with("stack app-test was created neither by Copilot nor by copilot-lite"),
        "{r}"
    );
    // Another environment's, or a workload stack's tags.
    let mut tags = copilot_tags();
    tags[1].1 = "prod".into();
    assert!(refused(deployed(&original, tags)).contains("copilot-environment=prod"));
    let mut tags = copilot_tags();
    tags.push(("copilot-service".into(), "api".into()));
    assert!(refused(deployed(&original, tags)).contains("copilot-service=api"));
    // Busy, or only deletable.
    let mut d = deployed(&original, copilot_tags());
    d.status = "UPDATE_IN_PROGRESS".into();
    assert!(refused(d).contains("busy (UPDATE_IN_PROGRESS)"));
    let mut d = deployed(&original, copilot_tags());
    d.status = "ROLLBACK_COMPLETE".into();
    assert!(refused(d).contains("`copilot env deploy`"));
    // Not Copilot's environment template.
    let other = original.replace(
        "Description: CloudFormation environment template",
        "Description: Some template",
    );
    assert!(refused(deployed(&other, copilot_tags())).contains("its Description is not"));
    let flow = "Description: CloudFormation environment template for infrastructure shared among Copilot workloads.\nMetadata: {Version: v1.30.0}\nParameters: {AppName: {Type: String}, EnvironmentName: {Type: String}}\nResources: {Q: {Type: AWS::SQS::Queue}}\n";
    assert!(refused(deployed(flow, copilot_tags())).contains("not a block mapping"));
    let foreign_addons = format!(
        "{}  AddonsStack:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: x\n",
        flow.replace(
            "Resources: {Q: {Type: AWS::SQS::Queue}}\n",
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
        )
    );
    assert!(
        refused(deployed(&foreign_addons, copilot_tags())).contains("does not pass App and Env")
    );
}

#[test]
fn absent_and_own_environment_stacks() {
    assert!(matches!(
        classify_env(&target(), None),
        EnvOwnership::Absent
    ));
    let own = environment_template(None);
    let mut tags = target().own_stack_tags(&[]);
    assert!(tags.contains(&(MANAGED_TAG.into(), MANAGED_VALUE.into())));
    assert!(matches!(
        classify_env(&target(), Some(&deployed(&own, tags.clone()))),
        EnvOwnership::Own
    ));
    // Marked by its template alone (tags lost), still for this environment only.
    tags.retain(|(k, _)| k != MANAGED_TAG);
    assert!(matches!(
        classify_env(&target(), Some(&deployed(&own, tags))),
        EnvOwnership::Own
    ));
    let other = EnvTarget::new("app", "prod");
    assert!(matches!(
        classify_env(&other, Some(&deployed(&own, target().own_stack_tags(&[])))),
        EnvOwnership::Refused(_)
    ));
    let mut gone = deployed(&own, vec![]);
    gone.status = "DELETE_COMPLETE".into();
    assert!(matches!(
        classify_env(&target(), Some(&gone)),
        EnvOwnership::Absent
    ));
}
