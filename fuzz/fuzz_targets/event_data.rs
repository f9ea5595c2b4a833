//! Event data as protobuf bytes (a `google.protobuf.Struct`): never a panic; what is accepted holds no
//! U+0000, which PostgreSQL cannot store, and converts between unit systems without a panic.
#![no_main]

use hookline_core::json_struct::to_json;
use hookline_core::units::{UnitSystem, localise_object};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    let Ok(data) = prost_types::Struct::decode(bytes) else {
        return;
    };
    if let Ok(mut object) = to_json(data) {
        let value = Value::Object(object.clone());
        assert!(storable(&value), "U+0000 accepted: {value}");
        localise_object(&mut object, UnitSystem::Imperial);
        localise_object(&mut object, UnitSystem::Metric);
    }
});

/// Whether no string or key of `value` holds U+0000.
fn storable(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.contains('\0'),
        Value::Array(items) => items.iter().all(storable),
        Value::Object(map) => map.iter().all(|(k, v)| !k.contains('\0') && storable(v)),
        _ => true,
    }
}
