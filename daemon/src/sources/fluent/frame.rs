//! Finds where one msgpack value ends in a byte stream, so a connection reads exactly one
//! forward message at a time and knows a frame is too large before it has read it.

use rmp::Marker;

/// What the bytes read so far hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// One complete value of this many bytes starts the buffer.
    Complete(usize),
    /// The value is not complete; it needs at least this many bytes in all.
    Incomplete {
        /// A lower bound of the value's length (exact once only a string or binary body is
        /// missing), so a frame over the limit is refused from its header.
        at_least: u64,
    },
    /// The bytes are not msgpack (a reserved marker).
    Invalid,
}

/// Measures the value at the start of `buf` without decoding it. Iterative, not recursive: it
/// only counts the values still to read, so deep nesting cannot exhaust the stack.
pub fn scan(buf: &[u8]) -> Scan {
    let mut pos: u64 = 0;
    // Values still to read; each array element and map key or value counts one.
    let mut pending: u64 = 1;
    let len = buf.len() as u64;
    while pending > 0 {
        let Some(&byte) = buf.get(pos as usize) else {
            // Every pending value takes at least one byte.
            return Scan::Incomplete {
                at_least: pos + pending,
            };
        };
        pending -= 1;
        let (header, body, children) = match Marker::from_u8(byte) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                (1, 0, 0)
            }
            Marker::U8 | Marker::I8 => (2, 0, 0),
            Marker::U16 | Marker::I16 => (3, 0, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (5, 0, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (9, 0, 0),
            Marker::FixStr(n) => (1, u64::from(n), 0),
            Marker::Str8 | Marker::Bin8 => (2, 0, 0).with_len(buf, pos, 1),
            Marker::Str16 | Marker::Bin16 => (3, 0, 0).with_len(buf, pos, 2),
            Marker::Str32 | Marker::Bin32 => (5, 0, 0).with_len(buf, pos, 4),
            Marker::FixArray(n) => (1, 0, u64::from(n)),
            Marker::Array16 => (3, 0, 0).with_count(buf, pos, 2, 1),
            Marker::Array32 => (5, 0, 0).with_count(buf, pos, 4, 1),
            Marker::FixMap(n) => (1, 0, u64::from(n) * 2),
            Marker::Map16 => (3, 0, 0).with_count(buf, pos, 2, 2),
            Marker::Map32 => (5, 0, 0).with_count(buf, pos, 4, 2),
            // Marker, type byte, data.
            Marker::FixExt1 => (2, 1, 0),
            Marker::FixExt2 => (2, 2, 0),
            Marker::FixExt4 => (2, 4, 0),
            Marker::FixExt8 => (2, 8, 0),
            Marker::FixExt16 => (2, 16, 0),
            // Marker, length, type byte, data.
            Marker::Ext8 => (3, 0, 0).with_len(buf, pos, 1),
            Marker::Ext16 => (4, 0, 0).with_len(buf, pos, 2),
            Marker::Ext32 => (6, 0, 0).with_len(buf, pos, 4),
            Marker::Reserved => return Scan::Invalid,
        };
        if pos + header > len {
            return Scan::Incomplete {
                at_least: pos + header + pending,
            };
        }
        pos += header + body;
        pending += children;
        if pos > len {
            return Scan::Incomplete {
                at_least: pos + pending,
            };
        }
    }
    Scan::Complete(pos as usize)
}

/// Reads the big-endian length or count that follows a marker, when it is in the buffer.
trait Header {
    /// `(header, body, children)` with the body length read from the `width` bytes after the
    /// marker (0 while they are not read yet; the header check then asks for more).
    fn with_len(self, buf: &[u8], pos: u64, width: usize) -> (u64, u64, u64);
    /// The same with a child count, `per_entry` values per counted entry.
    fn with_count(self, buf: &[u8], pos: u64, width: usize, per_entry: u64) -> (u64, u64, u64);
}

impl Header for (u64, u64, u64) {
    fn with_len(self, buf: &[u8], pos: u64, width: usize) -> (u64, u64, u64) {
        (self.0, big_endian(buf, pos, width), 0)
    }

    fn with_count(self, buf: &[u8], pos: u64, width: usize, per_entry: u64) -> (u64, u64, u64) {
        (self.0, 0, big_endian(buf, pos, width) * per_entry)
    }
}

/// The `width`-byte big-endian number after the marker at `pos`, 0 when not all read.
fn big_endian(buf: &[u8], pos: u64, width: usize) -> u64 {
    let start = pos as usize + 1;
    buf.get(start..start + width)
        .map(|bytes| bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &rmpv::Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    #[test]
    fn measures_nested_values_exactly_and_asks_for_more_when_cut() {
        use rmpv::Value;
        let value = Value::Array(vec![
            Value::from("app.tag"),
            Value::Array(vec![Value::Array(vec![
                Value::Ext(0, vec![0, 0, 0, 1, 0, 0, 0, 2]),
                Value::Map(vec![(Value::from("log"), Value::from("x".repeat(300)))]),
            ])]),
            Value::Map(vec![(Value::from("chunk"), Value::from("abc"))]),
            Value::Binary(vec![7; 70_000]),
            Value::from(-3i64),
            Value::from(1.5f64),
            Value::from(u64::MAX),
        ]);
        let mut bytes = encode(&value);
        let len = bytes.len();
        bytes.extend_from_slice(&encode(&Value::from("next frame")));
        assert_eq!(scan(&bytes), Scan::Complete(len));
        for cut in [0, 1, 5, 20, 400, len - 1] {
            match scan(&bytes[..cut]) {
                Scan::Incomplete { at_least } => {
                    assert!(
                        at_least > cut as u64 && at_least <= len as u64,
                        "{cut}: {at_least}"
                    )
                }
                other => panic!("{cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_huge_binary_is_known_to_be_huge_from_its_header() {
        // bin32 of 100 MB: five header bytes say so.
        let header = [0xc6, 0x05, 0xf5, 0xe1, 0x00];
        assert_eq!(
            scan(&header),
            Scan::Incomplete {
                at_least: 5 + 100_000_000
            }
        );
        // array32 claiming four billion elements needs at least that many bytes.
        let header = [0xdd, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(scan(&header), Scan::Incomplete { at_least } if at_least > 4_000_000_000));
    }

    #[test]
    fn deep_nesting_does_not_recurse_and_reserved_markers_are_invalid() {
        let mut deep = vec![0x91u8; 1_000_000];
        deep.push(0xc0);
        assert_eq!(scan(&deep), Scan::Complete(deep.len()));
        assert_eq!(scan(&[0xc1]), Scan::Invalid);
        assert_eq!(scan(&[0x92, 0x01, 0xc1]), Scan::Invalid);
    }
}
