use serde_json::json;

use super::*;

fn converted(value: Value, target: UnitSystem) -> Value {
    let mut v = value;
    localise(&mut v, target);
    v
}

/// A number as ingest writes it: whole numbers as integers.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Every unit to its counterpart, with the value a person would check by hand.
#[test]
fn every_unit_converts_to_its_counterpart_rounded_to_the_digits_given() {
    let table: &[(f64, &str, f64, &str)] = &[
        (12.5, "km", 7.77, "mi"),
        (100.0, "mm", 3.94, "in"),
        (10.0, "cm", 3.94, "in"),
        (2.0, "m", 6.56, "ft"),
        (1.0, "in", 2.54, "cm"),
        (3.0, "ft", 0.914, "m"),
        (1.0, "yd", 0.914, "m"),
        (26.2, "mi", 42.2, "km"),
        (10.0, "m²", 108.0, "ft²"),
        (2.0, "km²", 0.772, "mi²"),
        (1.0, "ha", 2.47, "acre"),
        (100.0, "ft²", 9.29, "m²"),
        (1.0, "acre", 0.405, "ha"),
        (1.0, "mi²", 2.59, "km²"),
        (500.0, "ml", 16.9, "fl oz"),
        (4.0, "l", 1.06, "gal"),
        (1.0, "m³", 35.3, "ft³"),
        (8.0, "fl oz", 237.0, "ml"),
        (1.0, "gal", 3.79, "l"),
        (10.0, "ft³", 0.283, "m³"),
        (100.0, "g", 3.53, "oz"),
        (70.0, "kg", 154.0, "lb"),
        (2.0, "t", 2.2, "short ton"),
        (16.0, "oz", 454.0, "g"),
        (150.0, "lb", 68.0, "kg"),
        (1.0, "short ton", 0.907, "t"),
        (100.0, "km/h", 62.1, "mph"),
        (60.0, "mph", 96.6, "km/h"),
        (250.0, "kPa", 36.3, "psi"),
        (32.0, "psi", 221.0, "kPa"),
        (100.0, "°C", 212.0, "°F"),
        (0.0, "°C", 32.0, "°F"),
        (-40.0, "°C", -40.0, "°F"),
        (98.6, "°F", 37.0, "°C"),
        (212.0, "°F", 100.0, "°C"),
    ];
    let mut covered: HashSet<&str> = HashSet::new();
    for &(value, from, expected, to) in table {
        let target = if find(from).unwrap().system == UnitSystem::Metric {
            UnitSystem::Imperial
        } else {
            UnitSystem::Metric
        };
        let out = converted(json!({"value": number(value), "unit": from}), target);
        assert_eq!(out["unit"], to, "{value} {from}");
        let got = out["value"].as_f64().unwrap();
        assert!(
            close(got, expected),
            "{value} {from} gave {got} {to}, expected {expected}"
        );
        covered.insert(from);
    }
    for u in UNITS {
        assert!(covered.contains(u.name), "{} has no row", u.name);
    }
}

#[test]
fn a_round_trip_returns_the_value_within_the_digits_kept() {
    for u in UNITS {
        let (there, back) = match u.system {
            UnitSystem::Metric => (UnitSystem::Imperial, UnitSystem::Metric),
            UnitSystem::Imperial => (UnitSystem::Metric, UnitSystem::Imperial),
        };
        let original = 123.456;
        let out = converted(
            converted(json!({"value": original, "unit": u.name}), there),
            back,
        );
        // Back in the same system, possibly in a sibling unit (mm → in → cm): compare the quantity.
        let unit = find(out["unit"].as_str().unwrap()).unwrap();
        assert_eq!(unit.system, u.system);
        let base = |v: f64, w: &Unit| v * w.factor + w.offset;
        let got = base(out["value"].as_f64().unwrap(), unit);
        let want = base(original, u);
        // Six significant digits given; a trailing zero of the way out cannot survive a JSON number
        // (76.7120 is 76.712), so the way back may keep five: one part in 10^4 at worst.
        assert!(
            (got - want).abs() / want.abs() < 1e-4,
            "{}: {got} vs {want}",
            u.name
        );
    }
}

#[test]
fn quantities_are_found_at_any_depth_and_nothing_else_changes() {
    let data = json!({
        "objectType": "job",
        "distance": {"value": 10, "unit": "km"},
        "legs": [{"length": {"value": 1, "unit": "mi"}}, {"value": 5, "unit": "kg"}],
        "note": {"value": 3, "unit": "km", "label": "not a quantity: three keys"},
        "count": {"value": 3},
        "weird": {"value": "3", "unit": "km"},
        "imperial": {"value": 2, "unit": "lb"},
        "unknown": {"value": 7, "unit": "furlong"},
        "text": "12 km"
    });
    let out = converted(data, UnitSystem::Imperial);
    assert_eq!(out["distance"], json!({"value": 6.21, "unit": "mi"}));
    assert_eq!(
        out["legs"][0]["length"],
        json!({"value": 1, "unit": "mi"}),
        "already imperial"
    );
    assert_eq!(out["legs"][1], json!({"value": 11.0, "unit": "lb"}));
    assert_eq!(
        out["note"],
        json!({"value": 3, "unit": "km", "label": "not a quantity: three keys"})
    );
    assert_eq!(out["count"], json!({"value": 3}));
    assert_eq!(out["weird"], json!({"value": "3", "unit": "km"}));
    assert_eq!(out["imperial"], json!({"value": 2, "unit": "lb"}));
    assert_eq!(out["unknown"], json!({"value": 7, "unit": "furlong"}));
    assert_eq!(out["text"], "12 km");
    assert_eq!(out["objectType"], "job");
}

#[test]
fn metric_organisations_get_metric_values() {
    let out = converted(
        json!({"t": {"value": 68, "unit": "°F"}}),
        UnitSystem::Metric,
    );
    assert_eq!(out["t"], json!({"value": 20.0, "unit": "°C"}));
}
