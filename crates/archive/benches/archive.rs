//! Scan and build of a generated tree (~300 files, ~6 MiB, half compressible text, half
//! incompressible bytes, nested folders); and the scan of that tree beside a `node_modules/`
//! of 20,000 small files, excluded by `.copilotignore` or not; and W4 (two 150,000,000-byte
//! random files and a small bootstrap): `cargo bench --bench archive -- w4`, which also prints
//! the CPU time (all threads) per scan and per build, as wall time alone is noisy on a shared
//! machine.

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
                .block_on(source.build(workspace.path(), None))
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

/// CPU time (user + system, all threads) used by this process so far.
fn cpu_time() -> std::time::Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time =
        |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Times `work` by wall clock for criterion and prints its CPU time per run.
fn timed(name: &str, b: &mut criterion::Bencher<'_>, mut work: impl FnMut()) {
    b.iter_custom(|runs| {
        let (wall, cpu) = (std::time::Instant::now(), cpu_time());
        for _ in 0..runs {
            work();
        }
        let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
        eprintln!(
            "{name}: {runs} runs, per run {:.3} s wall, {:.3} s CPU",
            wall.as_secs_f64() / runs as f64,
            cpu.as_secs_f64() / runs as f64
        );
        wall
    });
}

/// W4 of `cargo xtask bench`: big incompressible binaries.
fn bench_w4(c: &mut Criterion) {
    let workspace = tempfile::tempdir().expect("tempdir");
    let root = workspace.path().join("artifact");
    std::fs::create_dir_all(&root).expect("create dir");
    let mut data = vec![0u8; 150_000_000];
    for name in ["engine-a.bin", "engine-b.bin"] {
        blake3::Hasher::new()
            .update(name.as_bytes())
            .finalize_xof()
            .fill(&mut data);
        std::fs::write(root.join(name), &data).expect("write file");
    }
    drop(data);
    std::fs::write(
        root.join("bootstrap"),
        "#!/bin/sh\nexec ./engine-a.bin \"$@\"\n",
    )
    .expect("write file");
    let policy = Policy {
        boundary: workspace.path().to_path_buf(),
        ignore_file: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let source = runtime
        .block_on(Source::scan(&root, true, &policy))
        .expect("scan");
    let mut group = c.benchmark_group("w4");
    group
        .sample_size(10)
        .throughput(Throughput::Bytes(source.content_bytes));
    group.bench_function("scan", |b| {
        timed("w4/scan", b, || {
            runtime
                .block_on(Source::scan(&root, true, &policy))
                .expect("scan");
        })
    });
    group.bench_function("build", |b| {
        timed("w4/build", b, || {
            runtime
                .block_on(source.build(workspace.path(), None))
                .expect("build");
        })
    });
    group.finish();
}

criterion_group!(benches, bench, bench_ignore, bench_w4);
criterion_main!(benches);
