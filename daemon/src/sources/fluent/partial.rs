//! Docker's partial messages: the log driver splits a line over 16 KiB into parts that share
//! a `partial_id` (`partial_message = "true"`, `partial_ordinal`, `partial_last`); they are
//! joined back into one line per connection, in arrival order.

use std::collections::HashMap;

use super::protocol::{key_is, Event};
use super::record::text_of;

/// Most partial lines open at once on one connection: Docker interleaves at most one per
/// stream (stdout, stderr) of each container, so 64 is generous; past it a part is
/// emitted unjoined.
const MAX_OPEN: usize = 64;

/// Lines being joined on one connection.
#[derive(Debug, Default)]
pub struct Partials {
    open: HashMap<String, Held>,
    order: Vec<String>,
}

/// A line being joined: its text so far, and its first part's tag, time and other fields,
/// kept so it can be written as it stands when the connection ends before its last part.
#[derive(Debug)]
pub struct Held {
    /// The `log` text joined so far.
    pub text: String,
    /// The first part's tag.
    pub tag: String,
    /// The first part's time.
    pub time_ns: i64,
    /// The first part's record (its `log` and partial fields are left out when written).
    pub fields: Vec<(rmpv::Value, rmpv::Value)>,
}

/// What to do with an event.
pub enum Offer {
    /// Not a partial message: write it as it is.
    Whole,
    /// A part that is not the last: held.
    Held,
    /// The last part: the joined `log` text.
    Joined(String),
}

impl Partials {
    /// Takes a part, or says the event is whole. A joined line that would pass `max_bytes` is
    /// emitted as it stands (its next part then starts a new line): nothing is dropped.
    pub fn offer(&mut self, event: &Event<'_, '_>, max_bytes: usize) -> Offer {
        let field = |name: &str| {
            event
                .record
                .iter()
                .find(|(k, _)| key_is(k, name))
                .map(|(_, v)| text_of(v))
        };
        if field("partial_message").as_deref() != Some("true") {
            return Offer::Whole;
        }
        let (Some(id), Some(log)) = (field("partial_id"), field("log")) else {
            return Offer::Whole;
        };
        let last = field("partial_last").as_deref() != Some("false");
        let held = match self.open.remove(&id) {
            Some(mut held) => {
                self.order.retain(|open| open != &id);
                held.text.push_str(&log);
                held
            }
            None => Held {
                text: log,
                tag: event.tag.to_owned(),
                time_ns: event.time_ns,
                fields: event
                    .record
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            },
        };
        // Past the size limit, or with the table full, the line is emitted as it stands (a
        // later part then starts a new line): nothing is held without bound, nothing dropped.
        if last || held.text.len() >= max_bytes || self.order.len() >= MAX_OPEN {
            return Offer::Joined(held.text);
        }
        self.order.push(id.clone());
        self.open.insert(id, held);
        Offer::Held
    }

    #[cfg(test)]
    /// True while some line waits for its last part.
    pub fn is_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Every line still waiting, oldest first, as it stands (the connection is ending).
    pub fn drain(&mut self) -> Vec<Held> {
        let order = std::mem::take(&mut self.order);
        order
            .into_iter()
            .filter_map(|id| self.open.remove(&id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::ValueRef;

    fn part<'a>(id: &'a str, log: &'a str, last: &'a str) -> [(ValueRef<'a>, ValueRef<'a>); 4] {
        [
            (ValueRef::from("partial_message"), ValueRef::from("true")),
            (ValueRef::from("partial_id"), ValueRef::from(id)),
            (ValueRef::from("partial_last"), ValueRef::from(last)),
            (ValueRef::from("log"), ValueRef::from(log)),
        ]
    }

    fn offer(
        partials: &mut Partials,
        record: &[(ValueRef<'_>, ValueRef<'_>)],
        max: usize,
    ) -> Option<String> {
        let event = Event {
            tag: "t",
            time_ns: 0,
            record,
            acked: false,
        };
        match partials.offer(&event, max) {
            Offer::Whole => Some("<whole>".into()),
            Offer::Held => None,
            Offer::Joined(log) => Some(log),
        }
    }

    #[test]
    fn parts_are_joined_per_id_and_whole_records_pass() {
        let mut p = Partials::default();
        assert_eq!(
            offer(&mut p, &part("a", "{\"msg\":\"one ", "false"), 1 << 20),
            None
        );
        assert_eq!(offer(&mut p, &part("b", "other ", "false"), 1 << 20), None);
        assert_eq!(
            offer(&mut p, &part("a", "two\"}", "true"), 1 << 20).as_deref(),
            Some("{\"msg\":\"one two\"}")
        );
        assert_eq!(
            offer(&mut p, &part("b", "end", "true"), 1 << 20).as_deref(),
            Some("other end")
        );
        let plain = [(ValueRef::from("log"), ValueRef::from("x"))];
        assert_eq!(offer(&mut p, &plain, 1 << 20).as_deref(), Some("<whole>"));
        assert!(!p.is_open());
        assert_eq!(
            offer(&mut p, &part("c", "unfinished", "false"), 1 << 20),
            None
        );
        assert!(p.is_open());
        let left: Vec<String> = p.drain().into_iter().map(|h| h.text).collect();
        assert_eq!(left, vec!["unfinished".to_owned()]);
        assert!(!p.is_open());
    }

    #[test]
    fn a_line_past_the_limit_is_emitted_as_it_stands() {
        let mut p = Partials::default();
        assert_eq!(offer(&mut p, &part("a", "0123", "false"), 6), None);
        assert_eq!(
            offer(&mut p, &part("a", "4567", "false"), 6).as_deref(),
            Some("01234567")
        );
        assert_eq!(
            offer(&mut p, &part("a", "89", "true"), 6).as_deref(),
            Some("89")
        );
    }
}
