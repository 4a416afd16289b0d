//! Serves the in-process S3 server until killed, for measurements by hand and for xtask's bench
//! and cfn-lint (which run it in its own process):
//! `cargo run --release -p test-support --features s3 --example serve -- <bucket>...` prints
//! the environment to export (endpoint and test credentials).

fn main() {
    let s3 = test_support::s3::TestS3::start_blocking();
    for bucket in std::env::args().skip(1) {
        s3.create_bucket_blocking(&bucket);
    }
    for (name, value) in s3.env() {
        println!("export {name}={value}");
    }
    loop {
        std::thread::park();
    }
}
