//! Decodes one Forward protocol v1 frame (Message, Forward, PackedForward,
//! CompressedPackedForward) into its events and options, with the EventTime extension.

use std::io::Read;

use rmpv::ValueRef;

/// Deepest nesting accepted in a frame or a record: a log record is a few levels deep, and the
/// bound keeps the recursive decoder far from the end of a task's stack.
const MAX_DEPTH: usize = 64;
/// What is wrong with an entry of a Forward or PackedForward message that is not a pair.
const NOT_AN_ENTRY: &str = "an entry is not [time, record]";
/// The msgpack extension type of EventTime (the specification's "EventTime Ext Format").
const EVENT_TIME_EXT: i8 = 0;

/// Why a frame was refused; never carries the frame's content.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Not msgpack, or msgpack deeper than [`MAX_DEPTH`].
    #[error("frame is not valid msgpack ({0})")]
    Msgpack(String),
    /// Valid msgpack that is not a forward message.
    #[error("frame is not a forward message: {0}")]
    Shape(&'static str),
    /// A compressed chunk that does not decompress, or decompresses past the limit.
    #[error("compressed chunk refused: {0}")]
    Compressed(String),
}

/// The `option` map of a frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `chunk`: the client wants `{"ack": chunk}` once the events are accepted.
    pub chunk: Option<String>,
}

/// One event of a frame: its tag, time and record (the key/value pairs of its map).
pub struct Event<'a, 'b> {
    /// The frame's tag.
    pub tag: &'b str,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The record: a map's pairs, or one `("message", value)` pair for a record that is not
    /// a map (kept, not dropped).
    pub record: &'b [(ValueRef<'a>, ValueRef<'a>)],
    /// The frame asks for an ack (its `chunk` option).
    pub acked: bool,
}

/// Decodes `frame` (one complete msgpack value) and calls `on_event` for every event in it, in
/// order. A compressed chunk may decompress to at most `max_bytes`.
pub fn decode(
    frame: &[u8],
    max_bytes: usize,
    mut on_event: impl FnMut(Event<'_, '_>),
) -> Result<Options, ProtocolError> {
    let value = read(&mut &frame[..])?;
    let ValueRef::Array(items) = value else {
        return Err(ProtocolError::Shape("not an array"));
    };
    let tag = match items.first() {
        Some(ValueRef::String(tag)) => tag.as_str().unwrap_or("(invalid utf-8 tag)"),
        _ => {
            return Err(ProtocolError::Shape(
                "the first element is not a tag string",
            ))
        }
    };
    let second = items
        .get(1)
        .ok_or(ProtocolError::Shape("no entries after the tag"))?;
    match second {
        // Message: [tag, time, record, option?]
        time if is_time(time) => {
            let record = items
                .get(2)
                .ok_or(ProtocolError::Shape("a message without a record"))?;
            let options = options(items.get(3))?;
            emit(tag, time, record, options.chunk.is_some(), &mut on_event)?;
            Ok(options)
        }
        // Forward: [tag, [[time, record], ...], option?]
        ValueRef::Array(entries) => {
            let options = options(items.get(2))?;
            for entry in entries {
                emit_entry(tag, entry, options.chunk.is_some(), &mut on_event)?;
            }
            Ok(options)
        }
        // PackedForward / CompressedPackedForward: [tag, bin(entries), option?]
        ValueRef::Binary(packed) => packed_forward(tag, packed, items.get(2), max_bytes, on_event),
        ValueRef::String(packed) => {
            packed_forward(tag, packed.as_bytes(), items.get(2), max_bytes, on_event)
        }
        _ => Err(ProtocolError::Shape(
            "the second element is neither a time, an entry array nor packed entries",
        )),
    }
}

fn packed_forward(
    tag: &str,
    packed: &[u8],
    option: Option<&ValueRef<'_>>,
    max_bytes: usize,
    mut on_event: impl FnMut(Event<'_, '_>),
) -> Result<Options, ProtocolError> {
    let compressed = match option {
        Some(ValueRef::Map(pairs)) => pairs.iter().any(|(k, v)| {
            key_is(k, "compressed")
                && matches!(v, ValueRef::String(s) if s.as_str() == Some("gzip"))
        }),
        _ => false,
    };
    let options = options(option)?;
    let inflated;
    let mut rest: &[u8] = if compressed {
        inflated = gunzip(packed, max_bytes)?;
        &inflated
    } else {
        packed
    };
    let acked = options.chunk.is_some();
    // One vector for every record's pairs: a map read whole is a vector built and freed per
    // record.
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        // `[time, record]`: the pair's header read here, so no vector is built for it
        let at = rest;
        match rmp::decode::read_array_len(&mut rest) {
            Ok(len) if len >= 2 => {
                let time = read(&mut rest)?;
                if !is_time(&time) {
                    return Err(ProtocolError::Shape(NOT_AN_ENTRY));
                }
                // a map's pairs go into `pairs`; any other record is read whole
                let record_at = rest;
                let other = match rmp::decode::read_map_len(&mut rest) {
                    Ok(members) => {
                        pairs.clear();
                        for _ in 0..members {
                            // the depth rmpv gives a map's members (it counts the
                            // value and its map each once), so both paths refuse alike
                            let key = read_member(&mut rest, MAX_DEPTH - 2)?;
                            let value = read_member(&mut rest, MAX_DEPTH - 2)?;
                            pairs.push((key, value));
                        }
                        None
                    }
                    Err(_) => {
                        rest = record_at;
                        Some(read(&mut rest)?)
                    }
                };
                for _ in 2..len {
                    read(&mut rest)?;
                }
                match other {
                    None => on_event(Event {
                        tag,
                        time_ns: entry_time_ns(&time)?,
                        record: &pairs,
                        acked,
                    }),
                    Some(record) => emit(tag, &time, &record, acked, &mut on_event)?,
                }
            }
            // anything else takes the general path, which names what is wrong with it
            _ => {
                rest = at;
                let entry = read(&mut rest)?;
                emit_entry(tag, &entry, acked, &mut on_event)?;
            }
        }
    }
    Ok(options)
}

/// Decompresses a chunk: the specification allows several gzip members back to back.
fn gunzip(packed: &[u8], max_bytes: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(packed)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|err| ProtocolError::Compressed(format!("not gzip: {err}")))?;
    if out.len() > max_bytes {
        return Err(ProtocolError::Compressed(format!(
            "decompresses past sources.fluent.max_frame_bytes ({max_bytes})"
        )));
    }
    Ok(out)
}

fn read<'a>(bytes: &mut &'a [u8]) -> Result<ValueRef<'a>, ProtocolError> {
    read_at_depth(bytes, MAX_DEPTH)
}

/// A record's key or value: a UTF-8 string (nearly every one) read straight from its bytes,
/// anything else (and a string that is not UTF-8) by rmpv, which gives both the same value.
fn read_member<'a>(bytes: &mut &'a [u8], depth: usize) -> Result<ValueRef<'a>, ProtocolError> {
    let at = *bytes;
    let mut header = at;
    if let Ok(len) = rmp::decode::read_str_len(&mut header) {
        if let Some((text, rest)) = header.split_at_checked(len as usize) {
            if let Ok(text) = std::str::from_utf8(text) {
                *bytes = rest;
                return Ok(ValueRef::from(text));
            }
        }
    }
    read_at_depth(bytes, depth)
}

fn read_at_depth<'a>(bytes: &mut &'a [u8], depth: usize) -> Result<ValueRef<'a>, ProtocolError> {
    rmpv::decode::read_value_ref_with_max_depth(bytes, depth)
        .map_err(|err| ProtocolError::Msgpack(err.to_string()))
}

fn emit_entry<'a>(
    tag: &str,
    entry: &ValueRef<'a>,
    acked: bool,
    on_event: &mut impl FnMut(Event<'_, '_>),
) -> Result<(), ProtocolError> {
    match entry {
        ValueRef::Array(pair) if pair.len() >= 2 && is_time(&pair[0]) => {
            emit(tag, &pair[0], &pair[1], acked, on_event)
        }
        _ => Err(ProtocolError::Shape(NOT_AN_ENTRY)),
    }
}

fn emit<'a>(
    tag: &str,
    time: &ValueRef<'a>,
    record: &ValueRef<'a>,
    acked: bool,
    on_event: &mut impl FnMut(Event<'_, '_>),
) -> Result<(), ProtocolError> {
    let time_ns = entry_time_ns(time)?;
    match record {
        ValueRef::Map(pairs) => on_event(Event {
            tag,
            time_ns,
            record: pairs,
            acked,
        }),
        other => on_event(Event {
            tag,
            time_ns,
            record: &[(ValueRef::from("message"), other.clone())],
            acked,
        }),
    }
    Ok(())
}

fn entry_time_ns(time: &ValueRef<'_>) -> Result<i64, ProtocolError> {
    time_ns(time).ok_or(ProtocolError::Shape("an entry's time is out of range"))
}

fn is_time(value: &ValueRef<'_>) -> bool {
    matches!(
        value,
        ValueRef::Integer(_)
            | ValueRef::F32(_)
            | ValueRef::F64(_)
            | ValueRef::Ext(EVENT_TIME_EXT, _)
    )
}

/// Integer seconds, float seconds (older clients), or EventTime: 4 bytes of seconds and 4 of
/// nanoseconds, big-endian.
fn time_ns(value: &ValueRef<'_>) -> Option<i64> {
    const NANOS: i64 = 1_000_000_000;
    match value {
        ValueRef::Integer(n) => n.as_i64()?.checked_mul(NANOS),
        ValueRef::F64(secs) => float_ns(*secs),
        ValueRef::F32(secs) => float_ns(f64::from(*secs)),
        ValueRef::Ext(EVENT_TIME_EXT, data) if data.len() == 8 => {
            let secs = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let nanos = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            Some(i64::from(secs) * NANOS + i64::from(nanos))
        }
        _ => None,
    }
}

fn float_ns(secs: f64) -> Option<i64> {
    // Past the year 2262 i64 nanoseconds overflow; such a time is refused, not wrapped.
    (secs.is_finite() && (0.0..9.2e9).contains(&secs)).then_some((secs * 1e9) as i64)
}

fn options(option: Option<&ValueRef<'_>>) -> Result<Options, ProtocolError> {
    match option {
        None | Some(ValueRef::Nil) => Ok(Options::default()),
        Some(ValueRef::Map(pairs)) => {
            let chunk = pairs
                .iter()
                .find(|(k, _)| key_is(k, "chunk"))
                .and_then(|(_, v)| match v {
                    ValueRef::String(s) => s.as_str().map(str::to_owned),
                    _ => None,
                });
            Ok(Options { chunk })
        }
        Some(_) => Err(ProtocolError::Shape("the option is not a map")),
    }
}

/// True when a map key is the string `name`.
pub fn key_is(key: &ValueRef<'_>, name: &str) -> bool {
    matches!(key, ValueRef::String(s) if s.as_bytes() == name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn encode(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    fn record(log: &str) -> Value {
        Value::Map(vec![(Value::from("log"), Value::from(log))])
    }

    fn event_time(secs: u32, nanos: u32) -> Value {
        let mut data = secs.to_be_bytes().to_vec();
        data.extend_from_slice(&nanos.to_be_bytes());
        Value::Ext(0, data)
    }

    /// (tag, time in ns, the `log` or `message` value as text) of each event.
    type Decoded = (Vec<(String, i64, String)>, Options);

    fn collect(frame: &[u8]) -> Result<Decoded, ProtocolError> {
        let mut events = Vec::new();
        let options = decode(frame, 1 << 20, |e| {
            let log = e
                .record
                .iter()
                .find(|(k, _)| key_is(k, "log") || key_is(k, "message"))
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            events.push((e.tag.to_owned(), e.time_ns, log));
        })?;
        Ok((events, options))
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_member_read_straight_is_what_rmpv_reads() {
        let mut cases: Vec<Vec<u8>> = [
            Value::from(""),
            Value::from("log"),
            Value::from("x".repeat(40)),
            Value::from("é".repeat(200)),
            Value::from("y".repeat(70_000)),
            Value::from(7),
            Value::Binary(vec![0xff, 0xfe]),
            record("a"),
        ]
        .iter()
        .map(encode)
        .collect();
        // a string that is not UTF-8, one cut short, and a lone marker
        cases.push(vec![0xa2, 0xff, 0xfe]);
        cases.push(vec![0xd9, 10, b'a', b'b']);
        cases.push(vec![0xdb]);
        for bytes in cases {
            let tail = [bytes.clone(), encode(&Value::from(1))].concat();
            let (mut ours, mut theirs) = (&tail[..], &tail[..]);
            let got = read_member(&mut ours, MAX_DEPTH).map_err(|e| e.to_string());
            let want = read_at_depth(&mut theirs, MAX_DEPTH).map_err(|e| e.to_string());
            assert_eq!(got, want, "{bytes:?}");
            if got.is_ok() {
                assert_eq!(ours, theirs, "{bytes:?}");
            }
        }
    }

    #[test]
    fn a_packed_record_read_member_by_member_nests_as_deep_as_one_read_whole() {
        let (mut taken, mut refused) = (0, 0);
        // rmpv spends two of its depth on each array: the limit falls in this range
        for depth in 20..40 {
            let mut inner = Value::from(1);
            for _ in 0..depth {
                inner = Value::Array(vec![inner]);
            }
            let record = Value::Map(vec![(Value::from("log"), inner)]);
            let whole = read(&mut &encode(&record)[..]).is_ok();
            let entry = encode(&Value::Array(vec![Value::from(1u32), record]));
            let frame = encode(&Value::Array(vec![Value::from("t"), Value::Binary(entry)]));
            assert_eq!(collect(&frame).is_ok(), whole, "nesting {depth}");
            if whole {
                taken += 1;
            } else {
                refused += 1;
            }
        }
        assert!(taken > 0 && refused > 0, "{taken} taken, {refused} refused");
    }

    #[test]
    fn every_mode_yields_its_events_in_order_with_nanosecond_times() {
        let chunk = Value::Map(vec![(Value::from("chunk"), Value::from("c1"))]);
        let entries = [
            Value::Array(vec![event_time(1_700_000_000, 5), record("a")]),
            Value::Array(vec![Value::from(1_700_000_001u32), record("b")]),
        ];
        let packed: Vec<u8> = entries.iter().flat_map(encode).collect();
        let message = Value::Array(vec![
            Value::from("t"),
            event_time(1_700_000_000, 5),
            record("a"),
            chunk.clone(),
        ]);
        let forward = Value::Array(vec![
            Value::from("t"),
            Value::Array(entries.to_vec()),
            chunk.clone(),
        ]);
        let packed_forward = Value::Array(vec![
            Value::from("t"),
            Value::Binary(packed.clone()),
            chunk.clone(),
        ]);
        // Two gzip members back to back, as the specification allows.
        let mut two_members = gzip(&packed[..encode(&entries[0]).len()]);
        two_members.extend(gzip(&packed[encode(&entries[0]).len()..]));
        let compressed = Value::Array(vec![
            Value::from("t"),
            Value::Binary(two_members),
            Value::Map(vec![
                (Value::from("chunk"), Value::from("c1")),
                (Value::from("compressed"), Value::from("gzip")),
                (Value::from("size"), Value::from(2)),
            ]),
        ]);
        let want_one = vec![(
            "t".to_owned(),
            1_700_000_000_000_000_005,
            "\"a\"".to_owned(),
        )];
        let mut want_two = want_one.clone();
        want_two.push(("t".into(), 1_700_000_001_000_000_000, "\"b\"".into()));
        let (events, options) = collect(&encode(&message)).unwrap();
        assert_eq!((events, options.chunk.as_deref()), (want_one, Some("c1")));
        for frame in [forward, packed_forward, compressed] {
            let (events, options) = collect(&encode(&frame)).unwrap();
            assert_eq!(events, want_two);
            assert_eq!(options.chunk.as_deref(), Some("c1"));
        }
    }

    #[test]
    fn malformed_frames_are_refused_with_a_reason() {
        let bad = [
            encode(&Value::from("just a string")),
            encode(&Value::Array(vec![Value::from(1), Value::from(2)])),
            encode(&Value::Array(vec![Value::from("t")])),
            encode(&Value::Array(vec![Value::from("t"), Value::Nil])),
            encode(&Value::Array(vec![
                Value::from("t"),
                Value::Array(vec![Value::from("not an entry")]),
            ])),
            encode(&Value::Array(vec![
                Value::from("t"),
                Value::Binary(b"\x92\x01".to_vec()),
            ])),
            encode(&Value::Array(vec![
                Value::from("t"),
                Value::Binary(b"not gzip".to_vec()),
                Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
            ])),
        ];
        for frame in bad {
            assert!(collect(&frame).is_err(), "{frame:?}");
        }
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let entry = encode(&Value::Array(vec![
            Value::from(1),
            record(&"z".repeat(4096)),
        ]));
        let big: Vec<u8> = entry
            .iter()
            .copied()
            .cycle()
            .take(entry.len() * 1000)
            .collect();
        let frame = encode(&Value::Array(vec![
            Value::from("t"),
            Value::Binary(gzip(&big)),
            Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
        ]));
        let err = decode(&frame, 1 << 20, |_| {}).unwrap_err().to_string();
        assert!(err.contains("max_frame_bytes"), "{err}");
    }
}
