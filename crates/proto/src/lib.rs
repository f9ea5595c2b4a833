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

/// The request paths (`/hookline.v1.EventIngest/PublishEvent`) of `service`'s methods, read from the
/// descriptors: what a server that serves `service` answers, so anything else can be told apart without
/// trusting the caller's path.
pub fn method_paths(service: &str) -> Vec<String> {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set is valid");
    set.file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service.iter().map(move |s| (package.clone(), s))
        })
        .filter(|(package, s)| format!("{package}.{}", s.name()) == service)
        .flat_map(|(_, s)| {
            s.method
                .iter()
                .map(|m| format!("/{service}/{}", m.name()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_service_s_methods_are_known_by_path() {
        let ingest = super::method_paths("hookline.v1.EventIngest");
        assert!(ingest.contains(&"/hookline.v1.EventIngest/PublishEvent".to_owned()));
        let registry = super::method_paths("hookline.v1.WebhookRegistry");
        assert!(registry.contains(&"/hookline.v1.WebhookRegistry/CreateWebhook".to_owned()));
        assert!(!registry.iter().any(|p| p.contains("PublishEvent")));
        assert!(super::method_paths("hookline.v1.Nothing").is_empty());
    }
}
