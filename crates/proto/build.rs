//! Generates the hookline.v1 code with a vendored protoc, so no system protoc is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files =
        ["hookline/v1/webhooks.proto", "hookline/v1/ingest.proto"].map(|f| proto_root.join(f));
    let descriptor = PathBuf::from(std::env::var("OUT_DIR")?).join("hookline_descriptor.bin");

    let mut prost = prost_build::Config::new();
    prost.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor)
        .compile_with_config(
            prost,
            &files,
            &[proto_root, protoc_bin_vendored::include_path()?],
        )?;
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}
