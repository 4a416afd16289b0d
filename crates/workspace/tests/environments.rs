//! Environment addons (`copilot/environments/addons/`): Copilot's environment rules, which
//! differ from a workload's in the reserved parameters only (`App` and `Env`, no `Name`).

mod common;

use common::tree;
use copilot_workspace::{AddonsError, AddonsKind, Workspace};

const ENV_PARAMS: &str = "Parameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n";
const TABLE: &str = "Resources:\n  Shared:\n    Type: AWS::DynamoDB::Table\nOutputs:\n  SharedName:\n    Value: !Ref Shared\n";

/// A workspace whose environment addons are `files` (names under
/// `copilot/environments/addons/`).
fn workspace(files: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
    let mut all: Vec<(String, &str)> = vec![("copilot/.workspace".into(), "application: app\n")];
    for (name, text) in files {
        all.push((format!("copilot/environments/addons/{name}"), text));
    }
    let refs: Vec<(&str, &str)> = all.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let dir = tree(&refs);
    let ws = Workspace::discover(dir.path(), None).unwrap();
    (dir, ws)
}

fn env_err(files: &[(&str, &str)]) -> AddonsError {
    let (_d, ws) = workspace(files);
    match ws.env_addons() {
        Err(e) => e,
        Ok(a) => panic!("expected an error, got {a:?}"),
    }
}

#[test]
fn environment_addons_need_app_and_env_but_not_name() {
    let (_d, ws) = workspace(&[("params.yml", ENV_PARAMS), ("table.yml", TABLE)]);
    let addons = ws.env_addons().unwrap().expect("addons");
    assert_eq!(addons.kind(), AddonsKind::Environment);
    assert_eq!(addons.files().len(), 2);
    assert_eq!(addons.outputs(), ["SharedName"]);
    assert!(addons.dir().ends_with("copilot/environments/addons"));

    // The same files as a workload's addons: Name is missing.
    let e = copilot_workspace::Addons::load(addons.dir()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "required parameter \"Name\" is missing from the template"
    );
    for missing in ["App", "Env"] {
        let params = ENV_PARAMS.replace(&format!("  {missing}:\n    Type: String\n"), "");
        let e = env_err(&[("params.yml", &params), ("table.yml", TABLE)]);
        assert_eq!(
            e.to_string(),
            format!("required parameter \"{missing}\" is missing from the template")
        );
    }
}

#[test]
fn environment_reserved_parameters_are_app_and_env() {
    for key in ["App", "Env"] {
        let e = env_err(&[
            ("t.yml", &format!("{ENV_PARAMS}{TABLE}")),
            (
                "addons.parameters.yml",
                &format!("Parameters:\n  {key}: !Ref AppName\n"),
            ),
        ]);
        assert_eq!(
            e.to_string(),
            "reserved parameters \"App\" and \"Env\" cannot be declared"
        );
        let at = e.location().expect("located");
        assert!(
            at.file
                .ends_with("copilot/environments/addons/addons.parameters.yml")
        );
        assert_eq!((at.line(), at.col()), (2, 3));
    }
    // `Name` is an ordinary parameter of an environment addon: it needs a value.
    let template = format!("{ENV_PARAMS}  Name:\n    Type: String\n{TABLE}");
    let e = env_err(&[("t.yml", &template)]);
    assert!(
        e.to_string().contains("\"Name\""),
        "an environment addon's Name is an ordinary parameter: {e}"
    );
    let (_d, ws) = workspace(&[
        ("t.yml", &template),
        (
            "addons.parameters.yml",
            "Parameters:\n  Name: !Sub '${AppName}-shared'\n",
        ),
    ]);
    let addons = ws.env_addons().unwrap().expect("addons");
    assert_eq!(
        addons.parameters()[0].entry,
        "Name: !Sub '${AppName}-shared'"
    );
}

#[test]
fn no_environment_addons_and_the_environments_listed() {
    let (dir, ws) = workspace(&[]);
    assert!(ws.env_addons().unwrap().is_none());
    assert_eq!(ws.list_environments().unwrap(), Vec::<String>::new());
    for env in ["test", "prod"] {
        let manifest = dir
            .path()
            .join(format!("copilot/environments/{env}/manifest.yml"));
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        std::fs::write(&manifest, format!("name: {env}\ntype: Environment\n")).unwrap();
    }
    // A folder without a manifest is not an environment; nor is addons/.
    std::fs::create_dir_all(dir.path().join("copilot/environments/scratch")).unwrap();
    assert_eq!(ws.list_environments().unwrap(), ["prod", "test"]);
}
