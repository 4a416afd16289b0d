//! Scan and build of a generated tree (~300 files, ~6 MiB, half compressible text, half
//! incompressible bytes, nested folders); and the scan of that tree beside a `node_modules/`
//! of 20,000 small files, excluded by `.copilotignore` or not.

use std::path::Path;

use archive::{Policy, Source};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn generate(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300u64 {
        let dir = root.join(format!("pkg{}/mod{}", i % 12, i % 5));
        std::fs::create_dir_all(&dir).expect("create dir");
        let size = 4_000 + (next() % 36_000) as usize;
        let content: Vec<u8> = if i % 2 == 0 {
            (0..size).map(|_| next().to_le_bytes()[3]).collect()
        } else {
            format!(
                "export const value{i} = \"{}\";\n",
                "lorem ipsum dolor sit amet ".repeat(size / 27)
            )
            .into_bytes()
        };
        total += content.len() as u64;
        std::fs::write(dir.join(format!("file{i}.js")), content).expect("write file");
    }
    total
}

fn bench(c: &mut Criterion) {
    let workspace = tempfile::tempdir().expect("tempdir");
    let root = workspace.path().join("artifact");
    let bytes = generate(&root);
    let policy = Policy {
        boundary: workspace.path().to_path_buf(),
        ignore_file: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let source = runtime
        .block_on(Source::scan(&root, true, &policy))
        .expect("scan");

    let mut group = c.benchmark_group("archive");
    group.sample_size(10).throughput(Throughput::Bytes(bytes));
    group.bench_function("scan", |b| {
        b.iter(|| {
            runtime
                .block_on(Source::scan(&root, true, &policy))
                .expect("scan")
        })
    });
    group.bench_function("build", |b| {
        b.iter(|| {
            runtime
                .block_on(source.build(workspace.path()))
                .expect("build")
        })
    });
    group.finish();
}

/// `ignore/excluded` should cost what `archive/scan` costs: the excluded folder is not walked.
fn bench_ignore(c: &mut Criterion) {
    let workspace = tempfile::tempdir().expect("tempdir");
    let root = workspace.path().join("artifact");
    generate(&root);
    for p in 0..100 {
        let dir = root.join(format!("node_modules/pkg{p:03}/lib"));
        std::fs::create_dir_all(&dir).expect("create dir");
        for i in 0..200 {
            let content = format!("module.exports = {p} * {i};\n");
            std::fs::write(dir.join(format!("m{i:03}.js")), content).expect("write file");
        }
    }
    let policy = Policy {
        boundary: workspace.path().to_path_buf(),
        ignore_file: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ignore_file = root.join(archive::IGNORE_FILE);
    let mut group = c.benchmark_group("ignore");
    group.sample_size(10);
    group.bench_function("included", |b| {
        let _ = std::fs::remove_file(&ignore_file);
        b.iter(|| {
            runtime
                .block_on(Source::scan(&root, true, &policy))
                .expect("scan")
        })
    });
    group.bench_function("excluded", |b| {
        std::fs::write(&ignore_file, "node_modules/\n").expect("write ignore file");
        b.iter(|| {
            runtime
                .block_on(Source::scan(&root, true, &policy))
                .expect("scan")
        })
    });
    group.finish();
}

criterion_group!(benches, bench, bench_ignore);
criterion_main!(benches);
