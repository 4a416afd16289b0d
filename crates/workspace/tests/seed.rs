//! The sample workspace in examples/seed.

use std::path::Path;

use copilot_workspace::{ServiceType, Workspace};

fn seed() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed"))
}

#[test]
fn seed_workspace() {
    let ws = Workspace::discover(&seed().join("lambdas/example"), None).unwrap();
    assert_eq!(ws.app(), "seed-demo");
    assert_eq!(ws.root(), std::fs::canonicalize(seed()).unwrap());
    let services = ws.list_services().unwrap();
    let names: Vec<_> = services.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["example-service", "record-svc"]);
    assert!(
        services
            .iter()
            .all(|s| s.service_type() == ServiceType::BackendService)
    );

    let svc = ws.service("record-svc").unwrap();
    let addons = svc.addons().unwrap().unwrap();
    let file = svc.addons_dir().join("ddb.yml");
    assert_eq!(addons.files(), std::slice::from_ref(&file));
    assert_eq!(addons.text(), std::fs::read_to_string(&file).unwrap());
    assert_eq!(
        addons.outputs(),
        ["recordsTableName", "recordProcessorName"]
    );
    assert!(addons.parameters().is_empty());
    let code = addons
        .template()
        .root()
        .get_path(&["Resources", "recordProcessor", "Properties", "Code"])
        .unwrap();
    assert_eq!(code.as_scalar(), Some("lambdas/record-processor/"));
    let at = addons.locate(code.span.start);
    assert_eq!((at.file.clone(), at.line(), at.col()), (file, 32, 13));

    assert!(
        addons.outputs().iter().any(|o| o == "recordsTableName"),
        "{:?}",
        addons.outputs()
    );

    let ex = ws
        .service("example-service")
        .unwrap()
        .addons()
        .unwrap()
        .unwrap();
    assert_eq!(ex.outputs(), ["ExampleFunctionName"]);
}

/// Both seed addon files merged together (as if one service had both).
#[test]
fn seed_files_merge() {
    let a = seed().join("copilot/example-service/addons/lambda.yml");
    let b = seed().join("copilot/record-svc/addons/ddb.yml");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    // The parameters differ by their descriptions: a conflict, as in Copilot.
    let err = copilot_workspace::Addons::from_texts(
        Path::new("addons"),
        vec![(a.clone(), read(&a)), (b.clone(), read(&b))],
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter logical ID \"App\" defined in \"lambda.yml\" at Ln 3, Col 5 is different than in \"ddb.yml\" at Ln 5, Col 5"
    );
    // Without the descriptions, they merge.
    let b_text: String = read(&b)
        .lines()
        .filter(|l| !l.starts_with("    Description:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let m = copilot_workspace::Addons::from_texts(
        Path::new("addons"),
        vec![(a.clone(), read(&a)), (b.clone(), b_text)],
        None,
    )
    .unwrap();
    let res: Vec<_> = m
        .template()
        .root()
        .get("Resources")
        .unwrap()
        .entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect();
    assert_eq!(
        res,
        [
            "ExampleFunction",
            "ExampleFunctionRole",
            "records",
            "recordProcessor",
            "recordProcessorRole",
            "tableStreamMappingToRecordProcessor"
        ]
    );
    assert_eq!(
        m.outputs(),
        [
            "ExampleFunctionName",
            "recordsTableName",
            "recordProcessorName"
        ]
    );
    assert!(m.text().contains(
        "      Code: lambdas/record-processor/ # local path to the record processing lambda\n"
    ));
}
