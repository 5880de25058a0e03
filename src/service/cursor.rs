//! The one cursor of every paged list: keyset pagination. A cursor names the sort it belongs
//! to, the last row's sort key and its id; the next page is the rows after that position —
//! an index range, never an `OFFSET` that reads and drops every earlier row.

use base64::Engine;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::db::engagement_list::KeyAfter;
use crate::error::{AppError, AppResult};

/// A sort key's value in a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Int(i64),
    Text(String),
}

/// The cursor's key for a list's sort key (none when the id alone orders the list).
pub fn key_after(key: KeyAfter) -> Option<Key> {
    match key {
        KeyAfter::Id => None,
        KeyAfter::Int(v) => Some(v.into()),
        KeyAfter::Text(v) => Some(v.into()),
        KeyAfter::Time(v) => Some(v.into()),
    }
}

impl From<i64> for Key {
    fn from(v: i64) -> Self {
        Key::Int(v)
    }
}

impl From<String> for Key {
    fn from(v: String) -> Self {
        Key::Text(v)
    }
}

impl From<NaiveDateTime> for Key {
    fn from(v: NaiveDateTime) -> Self {
        Key::Text(v.format(TIME).to_string())
    }
}

const TIME: &str = "%Y-%m-%dT%H:%M:%S%.6f";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wire {
    /// The sort, as the query named it (`-rank`).
    s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Key>,
    id: String,
}

/// Where the previous page ended.
#[derive(Debug, Clone)]
pub struct After {
    pub key: Option<Key>,
    pub id: String,
}

fn refused() -> AppError {
    AppError::field(
        "cursor",
        "not a cursor this list gave out (or one of another sort)",
    )
}

impl After {
    pub fn int(&self) -> AppResult<i64> {
        match &self.key {
            Some(Key::Int(v)) => Ok(*v),
            _ => Err(refused()),
        }
    }

    pub fn text(&self) -> AppResult<String> {
        match &self.key {
            Some(Key::Text(v)) => Ok(v.clone()),
            _ => Err(refused()),
        }
    }

    pub fn time(&self) -> AppResult<NaiveDateTime> {
        NaiveDateTime::parse_from_str(&self.text()?, TIME).map_err(|_| refused())
    }
}

/// The cursor for the page after a row with this sort key and id.
pub fn encode(sort: &str, key: Option<Key>, id: &str) -> String {
    let wire = Wire {
        s: sort.to_owned(),
        k: key,
        id: id.to_owned(),
    };
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Reads a cursor given for `sort`; 422 on anything else.
pub fn decode(raw: Option<&str>, sort: &str) -> AppResult<Option<After>> {
    let Some(raw) = raw else { return Ok(None) };
    let wire: Wire = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(refused)?;
    if wire.s != sort || wire.id.is_empty() {
        return Err(refused());
    }
    Ok(Some(After {
        key: wire.k,
        id: wire.id,
    }))
}

/// `rows` were read with `limit + 1`: the page, and the cursor for the next one if any.
pub fn page<R>(
    mut rows: Vec<R>,
    limit: i64,
    sort: &str,
    position: impl Fn(&R) -> (Option<Key>, String),
) -> (Vec<R>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next = more
        .then(|| rows.last().map(&position))
        .flatten()
        .map(|(key, id)| encode(sort, key, &id));
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_belongs_to_its_sort() {
        let t = NaiveDateTime::parse_from_str("2026-11-26T12:00:00.123456", TIME).unwrap();
        let c = encode("-stage_since", Some(t.into()), "e1");
        let after = decode(Some(&c), "-stage_since").unwrap().unwrap();
        assert_eq!((after.time().unwrap(), after.id.as_str()), (t, "e1"));
        assert!(decode(Some(&c), "stage_since").is_err());
        assert!(decode(Some("garbage"), "id").is_err());
        let c = encode("rank", Some(7.into()), "e2");
        assert_eq!(decode(Some(&c), "rank").unwrap().unwrap().int().unwrap(), 7);
        assert!(decode(Some(&c), "rank").unwrap().unwrap().text().is_err());
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let (rows, next) = page(vec![1, 2, 3], 3, "id", |r| (None, r.to_string()));
        assert_eq!((rows.len(), next), (3, None));
        let (rows, next) = page(vec![1, 2, 3], 2, "id", |r| (None, r.to_string()));
        assert_eq!(rows, [1, 2]);
        assert_eq!(decode(next.as_deref(), "id").unwrap().unwrap().id, "2");
    }
}
