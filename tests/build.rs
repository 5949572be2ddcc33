//! Says, when the server tests are left out, how to run them.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_LOCAL_STACK").is_none() {
        println!(
            "cargo:warning=the tests that need the local DynamoDB server and `cargo lambda watch` \
             (tests/tests/{{dynamodb,logs,http,stall}}) are not built: `make test` runs them"
        );
    }
}
