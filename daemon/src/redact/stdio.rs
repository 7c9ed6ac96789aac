//! The `redact` verb: stdin to stdout, one line out for each line in, in order, with bounded
//! memory (a line over `max_line_bytes` is not buffered whole; it becomes a marker line).

use std::io::{self, BufRead, BufWriter, Write};

use anyhow::Context as _;

use super::{RedactConfig, Redactor};

/// Buffer size of the reader and the writer.
const IO_BUFFER_BYTES: usize = 256 * 1024;

/// What one filter run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Lines read (and written).
    pub lines: u64,
}

/// Copies stdin to stdout line by line through the redactor.
pub fn filter_stdio(config: &RedactConfig) -> anyhow::Result<()> {
    let redactor = Redactor::new(config).context("cannot start the redactor")?;
    let stdin = io::stdin();
    let reader = io::BufReader::with_capacity(IO_BUFFER_BYTES, stdin.lock());
    let stdout = io::stdout();
    let writer = BufWriter::with_capacity(IO_BUFFER_BYTES, stdout.lock());
    match filter(&redactor, reader, writer) {
        Ok(_) => Ok(()),
        // the reader of our output went away (`| head`): nothing more to do
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("redact: cannot copy stdin to stdout; check both streams"),
    }
}

/// Redacts every line of `reader` into `writer`. A final line without a newline is written
/// without one, so a file with nothing to redact comes out byte-identical.
pub fn filter<R: BufRead, W: Write>(
    redactor: &Redactor,
    mut reader: R,
    mut writer: W,
) -> io::Result<FilterStats> {
    let limit = redactor.max_line_bytes;
    let mut line: Vec<u8> = Vec::with_capacity(4096);
    let mut out = String::with_capacity(4096);
    let mut stats = FilterStats::default();
    loop {
        line.clear();
        let (ended, oversized) = read_line_bounded(&mut reader, &mut line, limit)?;
        if line.is_empty() && !ended && !oversized {
            break;
        }
        if oversized {
            // the bytes were not kept: the whole line becomes a marker
            redactor.oversized_into(&mut out);
        } else {
            redactor.redact_line_into(&line, &mut out);
        }
        writer.write_all(out.as_bytes())?;
        if ended {
            writer.write_all(b"\n")?;
        }
        stats.lines += 1;
        if !ended {
            break;
        }
        // keep a huge line's buffer from pinning memory
        if line.capacity() > 1 << 20 {
            line = Vec::with_capacity(4096);
            out = String::with_capacity(4096);
        }
    }
    writer.flush()?;
    Ok(stats)
}

/// Reads one line into `line` (without `\n`), keeping at most `limit + 1` bytes; returns
/// whether a newline ended it and whether it was longer than `limit`.
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<(bool, bool)> {
    let mut oversized = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((false, oversized));
        }
        let (chunk, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        if !oversized {
            let room = (limit + 1).saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if line.len() > limit {
                oversized = true;
                line.clear();
            }
        }
        match found {
            Some(i) => {
                reader.consume(i + 1);
                return Ok((true, oversized));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], config: &RedactConfig) -> Vec<u8> {
        let r = Redactor::new(config).unwrap();
        let mut out = Vec::new();
        filter(&r, input, &mut out).unwrap();
        out
    }

    #[test]
    fn one_line_out_per_line_in_and_final_newline_kept() {
        let input = b"a\n{\"email\":\"x@y.com\"}\n\nplain\xff tail";
        let out = run(input, &RedactConfig::default());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 3);
        assert!(text.ends_with("plain\u{FFFD} tail"));
        assert!(text.contains("{\"email\":\"[REDACTED:email]\"}"));
    }

    #[test]
    fn oversized_line_becomes_a_marker_and_the_next_line_survives() {
        let config = RedactConfig {
            max_line_bytes: 1024,
            ..RedactConfig::default()
        };
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nnext\n");
        let out = String::from_utf8(run(&input, &config)).unwrap();
        assert_eq!(
            out,
            format!("{}\nnext\n", super::super::OVERSIZED_LINE_MARKER)
        );
    }
}
