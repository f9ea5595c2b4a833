//! Converting between protobuf `Struct`s (how gRPC carries JSON objects: event data, schemas, examples)
//! and `serde_json` objects.
//!
//! Everything converted here is stored as `jsonb`, so the conversion refuses what PostgreSQL cannot store
//! (see [`crate::storable`]): accepting it would only fail later, inside a worker's batch.

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};

use crate::storable;

/// The largest integer a double represents exactly; whole numbers up to it are written without a fraction.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The `Struct` carrying a JSON object.
pub fn from_json(map: Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, from_value(v))).collect(),
    }
}

fn from_value(v: Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(from_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(from_json(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// Why a `Struct` cannot become JSON.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct InvalidData(pub String);

/// The JSON object `data` carries; errors name the offending member by its path (`a.b[2]`).
pub fn to_json(data: prost_types::Struct) -> Result<Map<String, Value>, InvalidData> {
    object(data, "", 1)
}

fn object(
    data: prost_types::Struct,
    path: &str,
    depth: usize,
) -> Result<Map<String, Value>, InvalidData> {
    if depth > storable::MAX_DEPTH {
        return Err(InvalidData(format!(
            "nests deeper than {} levels at `{path}`",
            storable::MAX_DEPTH
        )));
    }
    data.fields
        .into_iter()
        .map(|(k, v)| {
            let member = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            storable::text(&k).map_err(|why| InvalidData(format!("the key `{member}` {why}")))?;
            let v = value(v, &member, depth)?;
            Ok((k, v))
        })
        .collect()
}

fn value(v: prost_types::Value, path: &str, depth: usize) -> Result<Value, InvalidData> {
    Ok(match v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StringValue(s)) => {
            storable::text(&s).map_err(|why| InvalidData(format!("`{path}` {why}")))?;
            Value::String(s)
        }
        Some(Kind::NumberValue(n)) => number(n)?,
        Some(Kind::StructValue(s)) => Value::Object(object(s, path, depth + 1)?),
        Some(Kind::ListValue(l)) => Value::Array(
            l.values
                .into_iter()
                .enumerate()
                .map(|(i, v)| value(v, &format!("{path}[{i}]"), depth + 1))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Protobuf numbers are doubles; whole ones are written as integers, as producers wrote them.
fn number(n: f64) -> Result<Value, InvalidData> {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
        return Ok(Value::Number((n as i64).into()));
    }
    Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| InvalidData("numbers must be finite".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{ListValue, Struct, Value as PValue};

    fn v(kind: Kind) -> PValue {
        PValue { kind: Some(kind) }
    }

    #[test]
    fn converts_nested_values() {
        let inner = Struct {
            fields: [("n".to_owned(), v(Kind::NumberValue(2.5)))].into(),
        };
        let data = Struct {
            fields: [
                ("count".to_owned(), v(Kind::NumberValue(3.0))),
                ("ok".to_owned(), v(Kind::BoolValue(true))),
                ("inner".to_owned(), v(Kind::StructValue(inner))),
                (
                    "list".to_owned(),
                    v(Kind::ListValue(ListValue {
                        values: vec![v(Kind::StringValue("a".into()))],
                    })),
                ),
                ("nothing".to_owned(), v(Kind::NullValue(0))),
            ]
            .into(),
        };
        assert_eq!(
            Value::Object(to_json(data).unwrap()),
            serde_json::json!({"count": 3, "ok": true, "inner": {"n": 2.5}, "list": ["a"], "nothing": null})
        );
    }

    #[test]
    fn round_trips_json_objects() {
        let json = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": {}}});
        let map = json.as_object().unwrap().clone();
        assert_eq!(to_json(from_json(map.clone())).unwrap(), map);
    }

    #[test]
    fn refuses_what_jsonb_cannot_store_naming_where() {
        let s = |kind| PValue { kind: Some(kind) };
        let nested = Struct {
            fields: [(
                "list".to_owned(),
                s(Kind::ListValue(ListValue {
                    values: vec![
                        s(Kind::StringValue("ok".into())),
                        s(Kind::StringValue("a\0b".into())),
                    ],
                })),
            )]
            .into(),
        };
        let data = Struct {
            fields: [("outer".to_owned(), s(Kind::StructValue(nested)))].into(),
        };
        let err = to_json(data).unwrap_err().0;
        assert!(
            err.contains("`outer.list[1]`") && err.contains("U+0000"),
            "{err}"
        );

        let key = Struct {
            fields: [("a\0".to_owned(), s(Kind::BoolValue(true)))].into(),
        };
        assert!(to_json(key).unwrap_err().0.contains("key"));

        let mut deep = Struct::default();
        for _ in 0..storable::MAX_DEPTH + 1 {
            deep = Struct {
                fields: [("x".to_owned(), s(Kind::StructValue(deep)))].into(),
            };
        }
        assert!(to_json(deep).unwrap_err().0.contains("deeper"));
    }

    #[test]
    fn rejects_non_finite_numbers() {
        let data = Struct {
            fields: [("x".to_owned(), v(Kind::NumberValue(f64::NAN)))].into(),
        };
        assert!(to_json(data).is_err());
    }
}
