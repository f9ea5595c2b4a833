//! Keyset pagination: page sizes and opaque page tokens naming the last row of the previous page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::RegistryError;

/// Page size when the request gives none.
const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page served.
const MAX_PAGE_SIZE: u32 = 100;

/// The position after which (in the listing's order) the next page starts.
pub type Cursor = (DateTime<Utc>, Uuid);

/// The number of rows to return: 0 means the default; larger requests are capped.
pub fn size(requested: u32) -> i64 {
    i64::from(if requested == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        requested.min(MAX_PAGE_SIZE)
    })
}

pub fn encode(cursor: Cursor) -> String {
    B64.encode(format!("{}_{}", cursor.0.timestamp_micros(), cursor.1))
}

/// Decodes a token from a previous response; empty means the first page.
pub fn decode(token: &str) -> Result<Option<Cursor>, RegistryError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || RegistryError::invalid("page_token", "is not a token from a previous response");
    let text = B64
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (micros, id) = text.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok(Some((at, Uuid::parse_str(id).map_err(|_| bad())?)))
}

/// The page's items converted for the response, and the token of the next page.
pub fn finish<R, T: From<R>>(
    rows: Vec<R>,
    limit: i64,
    cursor: impl Fn(&R) -> Cursor,
) -> (Vec<T>, String) {
    let next = next_token(&rows, limit, cursor);
    (rows.into_iter().map(Into::into).collect(), next)
}

/// The token for the page after `rows`, or empty when `rows` was not a full page.
fn next_token<T>(rows: &[T], limit: i64, cursor: impl Fn(&T) -> Cursor) -> String {
    match rows.last() {
        Some(last) if rows.len() as i64 == limit => encode(cursor(last)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let cursor = (
            DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            Uuid::now_v7(),
        );
        assert_eq!(decode(&encode(cursor)).unwrap(), Some(cursor));
        assert_eq!(decode("").unwrap(), None);
        assert!(decode("garbage").is_err());
    }

    #[test]
    fn sizes_are_defaulted_and_capped() {
        assert_eq!(size(0), 50);
        assert_eq!(size(7), 7);
        assert_eq!(size(10_000), 100);
    }
}
