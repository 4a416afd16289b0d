//! `addons.parameters.yml` and the parameter rules (B §3.3).

mod common;

use common::{PARAMS, load, merged};
use copilot_workspace::AddonsError;

const TEMPLATE: &str = "Parameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n  Name:\n    Type: String\n  ServiceName:\n    Type: String\n  QueueUrl:\n    Type: String\n  Retention:\n    Type: Number\n    Default: 7\nResources:\n  T: {Type: AWS::SNS::Topic}\n";

fn err(files: &[(&str, &str)]) -> AddonsError {
    match load(files).1 {
        Err(e) => e,
        Ok(a) => panic!("expected an error, got {a:?}"),
    }
}

#[test]
fn parameters_keep_their_original_text() {
    let params = "# values from the service stack\nParameters:\n  ServiceName: !GetAtt Service.Name # the ECS service\n  QueueUrl:\n    Fn::ImportValue:\n      !Sub '${App}-${Env}-queue'\n";
    let (_d, a) = merged(&[("t.yml", TEMPLATE), ("addons.parameters.yml", params)]);
    let p = a.parameters();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].key, "ServiceName");
    assert_eq!(
        p[0].entry,
        "ServiceName: !GetAtt Service.Name # the ECS service"
    );
    assert_eq!(p[1].key, "QueueUrl");
    assert_eq!(
        p[1].entry,
        "QueueUrl:\n  Fn::ImportValue:\n    !Sub '${App}-${Env}-queue'"
    );
    assert_eq!((p[1].location.line(), p[1].location.col()), (4, 3));
    assert!(
        a.parameters_file()
            .unwrap()
            .ends_with("addons.parameters.yml")
    );

    // Flow style, and the .yaml spelling.
    let (_d, a) = merged(&[
        ("t.yml", TEMPLATE),
        (
            "addons.parameters.yaml",
            "Parameters: {ServiceName: !Ref WorkloadName, QueueUrl: \"u\"}\n",
        ),
    ]);
    let entries: Vec<_> = a.parameters().iter().map(|p| p.entry.as_str()).collect();
    assert_eq!(
        entries,
        ["ServiceName: !Ref WorkloadName", "QueueUrl: \"u\""]
    );
}

#[test]
fn no_parameters_file_needs_defaults() {
    let (_d, a) = merged(&[("t.yml", PARAMS)]);
    assert!(a.parameters().is_empty());
    assert!(a.parameters_file().is_none());
    let e = err(&[("t.yml", TEMPLATE)]);
    assert_eq!(
        e.to_string(),
        "parameter \"ServiceName\" in template must have a default value or is included in parameters file"
    );
    let at = e.location().unwrap();
    assert!(at.file.ends_with("t.yml"));
    assert_eq!((at.line(), at.col()), (8, 3));
}

#[test]
fn required_parameters() {
    for (missing, template) in [
        (
            "App",
            "Parameters:\n  Env: {Type: String}\n  Name: {Type: String}\n",
        ),
        (
            "Env",
            "Parameters:\n  App: {Type: String}\n  Name: {Type: String}\n",
        ),
        (
            "Name",
            "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n",
        ),
        ("App", "Resources:\n  T: {Type: AWS::SNS::Topic}\n"),
    ] {
        assert_eq!(
            err(&[("t.yml", template)]).to_string(),
            format!("required parameter \"{missing}\" is missing from the template")
        );
    }
    // The check runs on the merged template: the reserved ones may come from different files.
    let (_d, a) = merged(&[
        ("a.yml", "Parameters:\n  App: {Type: String}\n"),
        (
            "b.yml",
            "Parameters:\n  Env: {Type: String}\n  Name: {Type: String}\n",
        ),
    ]);
    assert!(a.parameters().is_empty());
}

#[test]
fn parameters_field_is_required() {
    for text in ["", "# nothing\n", "Params:\n  X: y\n"] {
        let (d, res) = load(&[("t.yml", PARAMS), ("addons.parameters.yml", text)]);
        let e = res.unwrap_err();
        let path = d.path().join("addons/addons.parameters.yml");
        assert_eq!(
            e.to_string(),
            format!(
                "must define field 'Parameters' in file addons.parameters.yml under path {}",
                path.display()
            ),
            "{text:?}"
        );
    }
    let e = err(&[
        ("t.yml", PARAMS),
        ("addons.parameters.yml", "Parameters: [a]\n"),
    ]);
    assert!(
        e.to_string()
            .contains("field 'Parameters' must be a mapping"),
        "{e}"
    );
    // An empty `Parameters:` passes nothing.
    let (_d, a) = merged(&[
        ("t.yml", PARAMS),
        ("addons.parameters.yml", "Parameters:\n"),
    ]);
    assert!(a.parameters().is_empty());
}

#[test]
fn reserved_parameters_cannot_be_declared() {
    for key in ["App", "Env", "Name"] {
        let params = format!("Parameters:\n  {key}: !Ref AppName\n");
        let e = err(&[("t.yml", PARAMS), ("addons.parameters.yml", &params)]);
        assert_eq!(
            e.to_string(),
            "reserved parameters \"App\", \"Env\" and \"Name\" cannot be declared"
        );
        assert!(
            matches!(&e, AddonsError::ReservedParameter { at, .. } if (at.line(), at.col()) == (2, 3)),
            "{e:?}"
        );
    }
}

#[test]
fn unknown_parameters_are_rejected() {
    let params = "Parameters:\n  ServiceName: x\n  QueueUrl: y\n  Bogus: z\n";
    let e = err(&[("t.yml", TEMPLATE), ("addons.parameters.yml", params)]);
    assert_eq!(
        e.to_string(),
        "template does not require the parameter \"Bogus\" in parameters file"
    );
    let at = e.location().unwrap();
    assert!(at.file.ends_with("addons.parameters.yml"));
    assert_eq!((at.line(), at.col()), (4, 3));
}

#[test]
fn missing_values_are_reported_in_the_original_file() {
    let extra = "# second file\nParameters:\n  Extra:\n    Type: String\n";
    let params = "Parameters:\n  ServiceName: x\n  QueueUrl: y\n";
    let e = err(&[
        ("a.yml", TEMPLATE),
        ("b.yml", extra),
        ("addons.parameters.yml", params),
    ]);
    assert_eq!(
        e.to_string(),
        "parameter \"Extra\" in template must have a default value or is included in parameters file"
    );
    let at = e.location().unwrap();
    assert!(at.file.ends_with("b.yml"), "{at}");
    assert_eq!((at.line(), at.col()), (3, 3));
}

#[test]
fn both_parameter_files_are_an_error() {
    let e = err(&[
        ("t.yml", PARAMS),
        ("addons.parameters.yml", "Parameters: {}\n"),
        ("addons.parameters.yaml", "Parameters: {}\n"),
    ]);
    assert_eq!(
        e.to_string(),
        "defining addons.parameters.yml and addons.parameters.yaml is not allowed under addons/"
    );
}

#[test]
fn invalid_parameters_file() {
    let e = err(&[
        ("t.yml", PARAMS),
        ("addons.parameters.yml", "Parameters: {a: [\n"),
    ]);
    assert!(matches!(e, AddonsError::Parse(_)), "{e:?}");
    assert!(e.to_string().contains("addons.parameters.yml:"), "{e}");
}
