//! Compile `spec/proto/firma/v1/*.proto` with protox (a protobuf compiler in
//! Rust), so building needs no system `protoc`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../spec/proto");
    let files = [root.join("firma/v1/authority.proto")];
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = match protox::compile(&files, [&root]) {
        Ok(fds) => fds,
        Err(e) => panic!("spec/proto does not compile: {e}"),
    };
    if let Err(e) = tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)
    {
        panic!("generating Rust code for spec/proto failed: {e}");
    }
}
