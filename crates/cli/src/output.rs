//! Printing results: aligned tables for people, JSON for scripts, from the same rows. What a table shows
//! has its control characters escaped, whatever they came from (an endpoint's response body, say), so
//! printing a result can never steer the terminal.

use hookline_core::plain_text::escaped;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// One record: its fields in display order.
pub type Row = Vec<(&'static str, String)>;

impl Format {
    /// Prints `rows` as a table, or a JSON array of objects.
    pub fn list(self, rows: &[Row]) {
        match self {
            Format::Json => println!("{}", Value::Array(rows.iter().map(object).collect())),
            Format::Table => {
                let Some(first) = rows.first() else {
                    println!("(none)");
                    return;
                };
                let cells: Vec<Vec<_>> = rows
                    .iter()
                    .map(|r| r.iter().map(|(_, v)| escaped(v)).collect())
                    .collect();
                let widths: Vec<usize> = first
                    .iter()
                    .enumerate()
                    .map(|(i, (h, _))| {
                        cells
                            .iter()
                            .map(|r| r[i].chars().count())
                            .max()
                            .unwrap_or(0)
                            .max(h.len())
                    })
                    .collect();
                let line = |cells: Vec<&str>| {
                    cells
                        .iter()
                        .zip(&widths)
                        .map(|(c, w)| format!("{c:<w$}"))
                        .collect::<Vec<_>>()
                        .join("  ")
                        .trim_end()
                        .to_owned()
                };
                let headers: Vec<String> = first.iter().map(|(h, _)| h.to_uppercase()).collect();
                println!("{}", line(headers.iter().map(String::as_str).collect()));
                for row in &cells {
                    println!("{}", line(row.iter().map(AsRef::as_ref).collect()));
                }
            }
        }
    }

    /// Prints one record: `field: value` lines, or a JSON object.
    pub fn one(self, row: &Row) {
        match self {
            Format::Json => println!("{}", object(row)),
            Format::Table => {
                let width = row.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                for (key, value) in row {
                    println!("{key:>width$}  {}", escaped(value));
                }
            }
        }
    }
}

fn object(row: &Row) -> Value {
    Value::Object(
        row.iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// A protobuf timestamp as RFC 3339, empty when absent.
pub fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
