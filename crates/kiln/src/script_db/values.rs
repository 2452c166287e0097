//! The wire format of `db` values between the prelude and Kiln (JSON plus the operation's one
//! binary part). Parameters: `null`, booleans (bound as 1/0), numbers (integral ones as
//! INTEGER, others as REAL), strings, `{"int": "<decimal>"}` for a `BigInt`, and
//! `{"blob": [offset, length]}` for bytes carried in the binary part. Results come back as
//! `{columns, rows, rowsAffected, lastInsertId}` with the same blob references into the
//! reply's binary part; integers beyond ±(2^53 − 1) come back as decimal strings (a JSON
//! number would silently lose digits), non-finite REALs as `null`.

use serde_json::{Map, Value, json};

use super::backend::{SqlValue, StatementResult};
use super::error::DbError;

/// Largest integer a JavaScript number represents exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The parameters in `value` (an array, or absent), with blobs sliced from `bytes`.
pub fn params(value: &Value, bytes: &[u8]) -> Result<Vec<SqlValue>, DbError> {
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(DbError::invalid("params must be an array of values")),
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            param(v, bytes).map_err(|why| DbError::invalid(format!("parameter {}: {why}", i + 1)))
        })
        .collect()
}

fn param(value: &Value, bytes: &[u8]) -> Result<SqlValue, &'static str> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().ok_or("not a number")?),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Object(map) => {
            if let Some(int) = map.get("int") {
                let text = int
                    .as_str()
                    .ok_or("a BigInt must be sent as a decimal string")?;
                SqlValue::Integer(
                    text.parse()
                        .map_err(|_| "a BigInt parameter must fit in 64 bits")?,
                )
            } else if let Some([offset, len]) =
                map.get("blob").and_then(Value::as_array).map(Vec::as_slice)
            {
                let (Some(offset), Some(len)) = (offset.as_u64(), len.as_u64()) else {
                    return Err("malformed blob reference");
                };
                let start = usize::try_from(offset).map_err(|_| "malformed blob reference")?;
                let end = start
                    .checked_add(usize::try_from(len).map_err(|_| "malformed blob reference")?);
                let slice = end
                    .and_then(|end| bytes.get(start..end))
                    .ok_or("malformed blob reference")?;
                SqlValue::Blob(slice.to_vec())
            } else {
                return Err(
                    "objects cannot be bound; use a string (e.g. JSON.stringify) or a Uint8Array",
                );
            }
        }
        Value::Array(_) => {
            return Err("arrays cannot be bound; use a string (e.g. JSON.stringify)");
        }
    })
}

/// Turns results into their JSON form, collecting blobs into one binary part.
#[derive(Default)]
pub struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    /// The JSON of one statement's result.
    pub fn result(&mut self, result: StatementResult) -> Value {
        let rows: Vec<Value> = result
            .rows
            .into_iter()
            .map(|row| Value::Array(row.into_iter().map(|v| self.value(v)).collect()))
            .collect();
        json!({
            "columns": result.columns,
            "rows": rows,
            "rowsAffected": result.rows_affected,
            "lastInsertId": integer(result.last_insert_id),
        })
    }

    fn value(&mut self, value: SqlValue) -> Value {
        match value {
            SqlValue::Null => Value::Null,
            SqlValue::Integer(i) => integer(i),
            SqlValue::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            SqlValue::Text(s) => Value::String(s),
            SqlValue::Blob(b) => {
                let offset = self.bytes.len();
                self.bytes.extend_from_slice(&b);
                let mut blob = Map::new();
                blob.insert("blob".to_owned(), json!([offset, b.len()]));
                Value::Object(blob)
            }
        }
    }

    /// The binary part, if any blob was encoded.
    pub fn finish(self) -> Option<bytes::Bytes> {
        (!self.bytes.is_empty()).then(|| bytes::Bytes::from(self.bytes))
    }
}

fn integer(i: i64) -> Value {
    if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
        Value::from(i)
    } else {
        Value::String(i.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_of_every_kind() {
        let json = json!([null, true, 7, 1.5, "x", {"int": "9007199254740993"}, {"blob": [1, 2]}]);
        let values = params(&json, b"abcd").unwrap();
        assert_eq!(
            values,
            [
                SqlValue::Null,
                SqlValue::Integer(1),
                SqlValue::Integer(7),
                SqlValue::Real(1.5),
                SqlValue::Text("x".into()),
                SqlValue::Integer(9_007_199_254_740_993),
                SqlValue::Blob(b"bc".to_vec()),
            ]
        );
    }

    #[test]
    fn bad_parameters_name_their_position() {
        for bad in [
            json!([1, {"a": 1}]),
            json!([1, [2]]),
            json!([1, {"blob": [3, 9]}]),
        ] {
            let error = params(&bad, b"abcd").unwrap_err();
            assert!(error.message.starts_with("parameter 2:"), "{error}");
        }
        assert!(params(&json!({"a": 1}), b"").is_err());
    }

    #[test]
    fn results_keep_big_integers_and_blobs() {
        let mut encoder = Encoder::default();
        let json = encoder.result(StatementResult {
            columns: vec!["a".into()],
            rows: vec![
                vec![SqlValue::Integer(1 << 60)],
                vec![SqlValue::Blob(b"hi".to_vec())],
                vec![SqlValue::Real(f64::INFINITY)],
            ],
            rows_affected: 0,
            last_insert_id: 3,
        });
        assert_eq!(
            json["rows"],
            json!([["1152921504606846976"], [{"blob": [0, 2]}], [null]])
        );
        assert_eq!(json["lastInsertId"], 3);
        assert_eq!(encoder.finish().unwrap().as_ref(), b"hi");
    }
}
