//! Compiles `proto/stillepost.proto` with protox (pure Rust, no `protoc` needed) and
//! generates the tonic client and server code into OUT_DIR. Nothing generated is committed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/stillepost.proto");
    let descriptors = protox::compile(["proto/stillepost.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
