//! Scans and builds one artifact, printing timings: `measure PATH [TEMP_DIR] [--keep OUT]`.
//! Used to measure throughput and peak memory (`/usr/bin/time -v`). With `MEASURE_CACHE=DIR`
//! the build uses (and fills) a compressed-entry cache in DIR.

use std::path::PathBuf;
use std::time::Instant;

use archive::{Cache, Policy, Source};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: measure PATH [TEMP_DIR] [--keep OUT]")?,
    );
    let temp = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let keep = match (args.next().as_deref(), args.next()) {
        (Some("--keep"), Some(out)) => Some(PathBuf::from(out)),
        _ => None,
    };
    let boundary = std::fs::canonicalize(&path)?
        .parent()
        .ok_or("no parent")?
        .to_path_buf();
    let policy = Policy {
        boundary,
        ignore_file: None,
    };

    let start = Instant::now();
    let source = Source::scan(&path, true, &policy).await?;
    let scan = start.elapsed();
    let start = Instant::now();
    let cache = std::env::var_os("MEASURE_CACHE").map(|dir| Cache {
        dir: PathBuf::from(dir),
        max_bytes: u64::MAX,
    });
    let built = source.build(&temp, cache.as_ref()).await?;
    let build = start.elapsed();
    let mib = source.content_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "files={} content={mib:.1} MiB zip={:.1} MiB key={}\nscan  {:>7.3} s  {:>7.1} MiB/s\nbuild {:>7.3} s  {:>7.1} MiB/s",
        source.entries.len(),
        built.size as f64 / (1024.0 * 1024.0),
        source.key,
        scan.as_secs_f64(),
        mib / scan.as_secs_f64(),
        build.as_secs_f64(),
        mib / build.as_secs_f64(),
    );
    if let Some(out) = keep {
        std::fs::copy(&built.path, out)?;
    }
    Ok(())
}
