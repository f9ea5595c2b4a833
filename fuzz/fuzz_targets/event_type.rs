//! Event-type names: never a panic, and what parses reads back as it was written.
#![no_main]

use hookline_core::event_type::EventType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(parsed) = EventType::parse(raw) {
        assert_eq!(parsed.as_str(), raw);
        assert!(raw.starts_with(parsed.resource()));
    }
});
