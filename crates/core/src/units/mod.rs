//! Unit localisation (seed 000's "Localisation"): quantities in an event's data, written
//! `{"value": <number>, "unit": "<unit>"}` at any depth, are delivered in the organisation's unit system.
//!
//! Rules:
//! - Each unit converts to its counterpart in the other system (km ↔ mi, kg ↔ lb, °C ↔ °F, …; the table
//!   below), never to a unit of another size class, so receivers see the units they expect.
//! - The result keeps the significant digits the producer wrote, and at least [`MIN_SIGNIFICANT`], so
//!   `12.5 km` becomes `7.77 mi`. Converting back gives the original within that precision, less any
//!   trailing zero a JSON number cannot carry (`76.7120` is written `76.712`).
//! - A quantity already in the target system is untouched; an unknown unit passes through unchanged and
//!   is logged once per unit; objects that are not exactly a value and a unit are never touched.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// The fewest significant digits a converted value keeps.
pub const MIN_SIGNIFICANT: u32 = 3;

/// An organisation's unit system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UnitSystem {
    #[default]
    Metric,
    Imperial,
}

impl UnitSystem {
    pub fn as_db(self) -> &'static str {
        match self {
            UnitSystem::Metric => "metric",
            UnitSystem::Imperial => "imperial",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        match raw {
            "imperial" => UnitSystem::Imperial,
            _ => UnitSystem::Metric,
        }
    }
}

/// One unit: its system, its counterpart in the other system, and how to reach a base unit shared with
/// that counterpart (`base = value × factor + offset`).
struct Unit {
    name: &'static str,
    system: UnitSystem,
    counterpart: &'static str,
    factor: f64,
    offset: f64,
}

const fn unit(
    name: &'static str,
    system: UnitSystem,
    counterpart: &'static str,
    factor: f64,
) -> Unit {
    Unit {
        name,
        system,
        counterpart,
        factor,
        offset: 0.0,
    }
}

use UnitSystem::{Imperial as I, Metric as M};

/// Every unit converted, with exact definitions (international yard and pound, US gallon).
static UNITS: &[Unit] = &[
    // Length, base metre.
    unit("mm", M, "in", 0.001),
    unit("cm", M, "in", 0.01),
    unit("m", M, "ft", 1.0),
    unit("km", M, "mi", 1000.0),
    unit("in", I, "cm", 0.0254),
    unit("ft", I, "m", 0.3048),
    unit("yd", I, "m", 0.9144),
    unit("mi", I, "km", 1609.344),
    // Area, base square metre.
    unit("m²", M, "ft²", 1.0),
    unit("km²", M, "mi²", 1e6),
    unit("ha", M, "acre", 1e4),
    unit("ft²", I, "m²", 0.09290304),
    unit("acre", I, "ha", 4046.8564224),
    unit("mi²", I, "km²", 2589988.110336),
    // Volume, base litre.
    unit("ml", M, "fl oz", 0.001),
    unit("l", M, "gal", 1.0),
    unit("m³", M, "ft³", 1000.0),
    unit("fl oz", I, "ml", 0.0295735295625),
    unit("gal", I, "l", 3.785411784),
    unit("ft³", I, "m³", 28.316846592),
    // Mass, base kilogram.
    unit("g", M, "oz", 0.001),
    unit("kg", M, "lb", 1.0),
    unit("t", M, "short ton", 1000.0),
    unit("oz", I, "g", 0.028349523125),
    unit("lb", I, "kg", 0.45359237),
    unit("short ton", I, "t", 907.18474),
    // Speed, base metre per second.
    unit("km/h", M, "mph", 1.0 / 3.6),
    unit("mph", I, "km/h", 0.44704),
    // Pressure, base pascal.
    unit("kPa", M, "psi", 1000.0),
    unit("psi", I, "kPa", 6894.757293168361),
    // Temperature, base kelvin.
    Unit {
        name: "°C",
        system: M,
        counterpart: "°F",
        factor: 1.0,
        offset: 273.15,
    },
    Unit {
        name: "°F",
        system: I,
        counterpart: "°C",
        factor: 5.0 / 9.0,
        offset: 273.15 - 32.0 * 5.0 / 9.0,
    },
];

fn find(name: &str) -> Option<&'static Unit> {
    UNITS.iter().find(|u| u.name == name)
}

/// Units already reported as unknown, so each is logged once.
static UNKNOWN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// Converts every quantity inside `value` into `target`, in place.
pub fn localise(value: &mut Value, target: UnitSystem) {
    let children: Box<dyn Iterator<Item = &mut Value>> = match value {
        Value::Object(map) => {
            if convert_quantity(map, target) {
                return;
            }
            Box::new(map.values_mut())
        }
        Value::Array(items) => Box::new(items.iter_mut()),
        _ => return,
    };
    children.for_each(|child| localise(child, target));
}

/// Converts every quantity inside `object` (a `data.object`) into `target`, in place.
pub fn localise_object(object: &mut Map<String, Value>, target: UnitSystem) {
    object
        .values_mut()
        .for_each(|child| localise(child, target));
}

/// Converts `map` if it is a quantity; says whether it was one (converted or left as it was).
fn convert_quantity(map: &mut Map<String, Value>, target: UnitSystem) -> bool {
    if map.len() != 2 {
        return false;
    }
    let (Some(Value::Number(number)), Some(Value::String(name))) =
        (map.get("value"), map.get("unit"))
    else {
        return false;
    };
    let Some(from) = find(name) else {
        let mut seen = UNKNOWN.lock().expect("unknown-unit lock");
        if seen.insert(name.clone()) {
            tracing::warn!(unit = %name, "unknown unit left as it is");
        }
        return true;
    };
    if from.system == target {
        return true;
    }
    let to = find(from.counterpart).expect("every counterpart is in the table");
    let Some(input) = number.as_f64() else {
        return true;
    };
    let base = input * from.factor + from.offset;
    let converted = round_significant((base - to.offset) / to.factor, significant_digits(number));
    if let Some(n) = Number::from_f64(converted) {
        map.insert("value".into(), Value::Number(n));
        map.insert("unit".into(), Value::String(to.name.into()));
    }
    true
}

/// The significant digits a producer wrote (`12.50` counts as written by serde: 12.5 → 3), at least
/// [`MIN_SIGNIFICANT`].
fn significant_digits(number: &Number) -> u32 {
    let text = number.to_string();
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    // Trailing zeros of a whole number (1200) are not significant; after a point they are.
    let counted = if mantissa.contains('.') {
        trimmed.len()
    } else {
        trimmed.trim_end_matches('0').len()
    };
    (counted as u32).max(MIN_SIGNIFICANT)
}

fn round_significant(value: f64, digits: u32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits as i32 - 1 - magnitude);
    let rounded = (value * scale).round() / scale;
    // Printing through the decimal form drops binary noise (7.7699999 → 7.77).
    format!(
        "{rounded:.*}",
        (digits as i32 - 1 - magnitude).max(0) as usize
    )
    .parse()
    .unwrap_or(rounded)
}

#[cfg(test)]
mod tests;
