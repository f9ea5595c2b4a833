//! The `hookline.v1` gRPC contract, generated from `proto/hookline/v1`.
#![allow(clippy::derive_partial_eq_without_eq)]

pub mod bearer;
pub mod codec;

/// Messages, servers and clients of package `hookline.v1`.
pub mod v1 {
    tonic::include_proto!("hookline.v1");
    include!(concat!(env!("OUT_DIR"), "/clients/hookline.v1.rs"));
}

/// Encoded descriptors of every hookline.v1 file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hookline_descriptor");
