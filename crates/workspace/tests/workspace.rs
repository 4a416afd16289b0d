//! Workspace discovery and services (SPEC A1).

mod common;

use common::tree;
use copilot_workspace::{ServiceType, Workspace, WorkspaceError};

fn manifest(name: &str, ty: &str) -> String {
    format!("# The manifest for the \"{name}\" service.\nname: {name}\ntype: {ty}\n")
}

fn sample() -> tempfile::TempDir {
    tree(&[
        ("copilot/.workspace", "application: demo\n"),
        (
            "copilot/web/manifest.yml",
            &manifest("web", "Load Balanced Web Service"),
        ),
        (
            "copilot/api/manifest.yml",
            &manifest("api", "Backend Service"),
        ),
        (
            "copilot/worker/manifest.yml",
            &manifest("worker", "Worker Service"),
        ),
        (
            "copilot/rd/manifest.yml",
            &manifest("rd", "Request-Driven Web Service"),
        ),
        (
            "copilot/site/manifest.yml",
            &manifest("site", "Static Site"),
        ),
        (
            "copilot/nightly/manifest.yml",
            &manifest("nightly", "Scheduled Job"),
        ),
        (
            "copilot/environments/test/manifest.yml",
            "name: test\ntype: Environment\n",
        ),
        (
            "copilot/environments/manifest.yml",
            "name: environments\ntype: Environment\n",
        ),
        (
            "copilot/pipelines/manifest.yml",
            "name: pipelines\ntype: Pipeline\n",
        ),
        ("copilot/notes/readme.md", "no manifest here\n"),
        ("src/deep/er/main.rs", "fn main() {}\n"),
    ])
}

#[test]
fn discovers_from_nested_subdirectories() {
    let dir = sample();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    for start in [
        "",
        "src",
        "src/deep/er",
        "copilot",
        "copilot/api",
        "copilot/notes",
    ] {
        let ws = Workspace::discover(&dir.path().join(start), None).unwrap();
        assert_eq!(ws.root(), root, "from {start:?}");
        assert_eq!(ws.app(), "demo");
        assert_eq!(ws.copilot_dir(), root.join("copilot"));
    }
}

#[test]
fn nearest_copilot_folder_wins() {
    let dir = tree(&[
        ("copilot/.workspace", "application: outer\n"),
        ("nested/copilot/.workspace", "application: inner\n"),
        ("nested/sub/x.txt", ""),
    ]);
    let ws = Workspace::discover(&dir.path().join("nested/sub"), None).unwrap();
    assert_eq!(ws.app(), "inner");
    assert_eq!(
        ws.root(),
        std::fs::canonicalize(dir.path().join("nested")).unwrap()
    );
}

#[test]
fn app_override_and_missing_workspace_file() {
    let dir = tree(&[(
        "copilot/api/manifest.yml",
        &manifest("api", "Backend Service"),
    )]);
    let err = Workspace::discover(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, WorkspaceError::NoWorkspaceFile { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(".workspace"), "{err}");
    let ws = Workspace::discover(dir.path(), Some("other")).unwrap();
    assert_eq!(ws.app(), "other");

    let dir = sample();
    let ws = Workspace::discover(dir.path(), Some("override")).unwrap();
    assert_eq!(ws.app(), "override");
}

#[test]
fn invalid_workspace_file() {
    let dir = tree(&[("copilot/.workspace", "app: demo\n")]);
    let err = Workspace::discover(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, WorkspaceError::MissingField { key, .. } if key == "application"),
        "{err}"
    );
    let dir = tree(&[("copilot/.workspace", "application: [a, b]\n")]);
    let err = Workspace::discover(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, WorkspaceError::InvalidField { at, .. } if (at.line(), at.col()) == (1, 14)),
        "{err:?}"
    );
    let dir = tree(&[("copilot/.workspace", "application: [a\n")]);
    let err = Workspace::discover(dir.path(), None).unwrap_err();
    assert!(matches!(&err, WorkspaceError::Parse(_)), "{err:?}");
}

#[test]
fn not_in_a_workspace() {
    let dir = tree(&[("a/b/file", ""), ("copilot", "a file, not a folder")]);
    let start = std::fs::canonicalize(dir.path().join("a/b")).unwrap();
    // A parent of the temporary folder may hold a copilot/ folder; nothing to check then.
    if start.ancestors().any(|d| d.join("copilot").is_dir()) {
        return;
    }
    let err = Workspace::discover(&start, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "not in a copilot workspace (no copilot/ folder in {} or its parents)",
            start.display()
        )
    );
}

#[test]
fn lists_services_sorted_skipping_non_services() {
    let dir = sample();
    let ws = Workspace::discover(dir.path(), None).unwrap();
    let services = ws.list_services().unwrap();
    let names: Vec<_> = services.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["api", "rd", "site", "web", "worker"]);
    let types: Vec<_> = services.iter().map(|s| s.service_type()).collect();
    assert_eq!(
        types,
        [
            ServiceType::BackendService,
            ServiceType::RequestDrivenWebService,
            ServiceType::StaticSite,
            ServiceType::LoadBalancedWebService,
            ServiceType::WorkerService,
        ]
    );
    let api = &services[0];
    assert_eq!(api.dir(), ws.copilot_dir().join("api"));
    assert_eq!(
        api.manifest_path(),
        ws.copilot_dir().join("api/manifest.yml")
    );
    assert_eq!(api.addons_dir(), ws.copilot_dir().join("api/addons"));
    assert_eq!(api.service_type().to_string(), "Backend Service");
}

#[test]
fn finds_a_service_by_name() {
    let dir = sample();
    let ws = Workspace::discover(dir.path(), None).unwrap();
    let web = ws.service("web").unwrap();
    assert_eq!(web.name(), "web");
    assert_eq!(web.service_type(), ServiceType::LoadBalancedWebService);
    assert!(web.addons().unwrap().is_none());
}

#[test]
fn service_not_found_lists_the_services() {
    let dir = sample();
    let ws = Workspace::discover(dir.path(), None).unwrap();
    for name in [
        "x",
        "notes",
        "environments",
        "pipelines",
        "",
        "..",
        "api/../web",
    ] {
        let err = ws.service(name).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "service \"{name}\" not found in {}; services: api, rd, site, web, worker",
                ws.copilot_dir().display()
            )
        );
    }
    let empty = tree(&[("copilot/.workspace", "application: demo\n")]);
    let ws = Workspace::discover(empty.path(), None).unwrap();
    assert_eq!(
        ws.service("x").unwrap_err().to_string(),
        format!(
            "service \"x\" not found in {}; services: (none)",
            ws.copilot_dir().display()
        )
    );
}

#[test]
fn a_job_is_not_a_service() {
    let dir = sample();
    let ws = Workspace::discover(dir.path(), None).unwrap();
    let err = ws.service("nightly").unwrap_err();
    assert!(
        matches!(&err, WorkspaceError::IsAJob { at, .. } if (at.line(), at.col()) == (3, 7)),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"nightly\" is a Scheduled Job, not a service"),
        "{msg}"
    );
    assert!(msg.contains("manifest.yml:3:7"), "{msg}");
}

#[test]
fn bad_manifests() {
    let cases: [(&str, &str); 7] = [
        (
            "name: other\ntype: Backend Service\n",
            "manifest name \"other\" does not match its folder \"svc\"",
        ),
        (
            "name: svc\ntype: Backend\n",
            "unknown service type \"Backend\" (expected one of: \"Load Balanced Web Service\", \"Backend Service\", \"Worker Service\", \"Request-Driven Web Service\", \"Static Site\")",
        ),
        ("name: svc\n", "missing field \"type\""),
        ("type: Backend Service\n", "missing field \"name\""),
        (
            "name: svc\ntype: {a: b}\n",
            "field \"type\" must be a non-empty string",
        ),
        (
            "name: ''\ntype: Backend Service\n",
            "field \"name\" must be a non-empty string",
        ),
        ("name: svc\ntype: [Backend Service\n", ""),
    ];
    for (text, want) in cases {
        let dir = tree(&[
            ("copilot/.workspace", "application: demo\n"),
            ("copilot/svc/manifest.yml", text),
        ]);
        let ws = Workspace::discover(dir.path(), None).unwrap();
        let err = ws.service("svc").unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(err.contains("manifest.yml"), "{text:?}: {err}");
        let err = ws.list_services().unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // Positions point at the offending value.
    let dir = tree(&[
        ("copilot/.workspace", "application: demo\n"),
        (
            "copilot/svc/manifest.yml",
            "# svc\nname:   other\ntype: Backend Service\n",
        ),
    ]);
    let ws = Workspace::discover(dir.path(), None).unwrap();
    let err = ws.service("svc").unwrap_err();
    assert!(
        matches!(&err, WorkspaceError::NameMismatch { at, .. } if (at.line(), at.col()) == (2, 9)),
        "{err:?}"
    );
}
