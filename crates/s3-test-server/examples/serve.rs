//! Serves the in-process S3 server until killed, for measurements by hand:
//! `cargo run --release -p s3-test-server --example serve -- <bucket>...` prints the
//! environment to export (endpoint and test credentials).

fn main() {
    let s3 = s3_test_server::TestS3::start_blocking();
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
