//! Generates the hookline.v1 code with a vendored protoc, so no system protoc is needed. Two passes:
//! the messages and the servers, whose codec is `crate::codec::RequestCodec`; then the clients alone,
//! with prost's codec and the first pass's messages.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files =
        ["hookline/v1/webhooks.proto", "hookline/v1/ingest.proto"].map(|f| proto_root.join(f));
    let includes = [proto_root, protoc_bin_vendored::include_path()?];
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let config = || -> Result<prost_build::Config, Box<dyn std::error::Error>> {
        let mut prost = prost_build::Config::new();
        prost.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
        Ok(prost)
    };

    tonic_prost_build::configure()
        .build_client(false)
        .codec_path("crate::codec::RequestCodec")
        .file_descriptor_set_path(out_dir.join("hookline_descriptor.bin"))
        .compile_with_config(config()?, &files, &includes)?;

    let clients = out_dir.join("clients");
    std::fs::create_dir_all(&clients)?;
    tonic_prost_build::configure()
        .build_server(false)
        .out_dir(&clients)
        .extern_path(".hookline.v1", "crate::v1")
        .compile_with_config(config()?, &files, &includes)?;

    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}
