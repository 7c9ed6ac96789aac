//! The live one-screen summary, redrawn in place on a terminal.

use std::fmt::Write as _;
use std::time::Duration;

use crate::prom::Samples;
use crate::traffic::CountsSnapshot;

/// What one frame shows.
#[derive(Debug, Default, Clone)]
pub struct Frame {
    /// Seconds since the traffic started.
    pub elapsed: Duration,
    /// Planned traffic duration.
    pub duration: Duration,
    /// How long the traffic took, once it has ended (the rest is catch-up and shutdown).
    pub traffic_took: Option<Duration>,
    /// The generator's counts.
    pub counts: CountsSnapshot,
    /// Lines the server and the app have written so far.
    pub lines_written: u64,
    /// The sidecar's `/metrics`, if it answered.
    pub sidecar: Option<Samples>,
    /// Metric datums written (local file) or published (CloudWatch) so far.
    pub datums: u64,
    /// Where logs and metrics go.
    pub destination: String,
}

/// The frame as text lines (no escape codes).
pub fn render(f: &Frame) -> Vec<String> {
    let c = &f.counts;
    let s = f.sidecar.clone().unwrap_or_default();
    let mut lines = Vec::new();
    let clock = match f.traffic_took {
        None => format!(
            "{:>5.1} s / {} s of traffic",
            f.elapsed.as_secs_f64(),
            f.duration.as_secs()
        ),
        Some(took) => format!(
            "{:.1} s of traffic (planned {} s) + {:.1} s catch-up and shutdown",
            took.as_secs_f64(),
            f.duration.as_secs(),
            f.elapsed.saturating_sub(took).as_secs_f64()
        ),
    };
    lines.push(format!(
        "AI Studio demo  {clock}   → {}{}",
        f.destination,
        if f.sidecar.is_none() {
            "   (sidecar metrics unavailable)"
        } else {
            ""
        }
    ));
    lines.push(format!(
        "requests     {:>6}   2xx {} · 401 {} · 429 {} · other 4xx {} · 5xx {}",
        c.requests, c.ok, c.unauthorized, c.rate_limited, c.client_errors, c.server_errors
    ));
    lines.push(format!(
        "streams      {:>6}   completed {} · provider failures {} · slow {}",
        c.streams_started, c.streams_completed, c.streams_failed, c.slow_streams
    ));
    lines.push(format!(
        "log lines    {:>6}   read {} · shipped {} · rejected {} · dropped {}",
        f.lines_written,
        s.total("aistudio_sidecar_lines_read_total"),
        s.total("aistudio_sidecar_events_shipped_total"),
        s.total("aistudio_sidecar_events_rejected_total"),
        s.total("aistudio_sidecar_events_dropped_total"),
    ));
    let mut redactions = String::new();
    for (rule, n) in s.by_label("aistudio_sidecar_redactions_total", "rule") {
        if n > 0 {
            let _ = write!(redactions, "{rule} {n} · ");
        }
    }
    let redactions = redactions.trim_end_matches(" · ");
    lines.push(format!(
        "redactions   {:>6}   {}",
        s.total("aistudio_sidecar_redactions_total"),
        if redactions.is_empty() {
            "-"
        } else {
            redactions
        }
    ));
    lines.push(format!(
        "metrics      {:>6}   datums published · {} observations · {} requests",
        f.datums,
        s.total("aistudio_sidecar_metric_observations_total"),
        s.total("aistudio_sidecar_metric_requests_total"),
    ));
    lines.push(format!(
        "errors       {:>6}   generator {} · sink errors {} · retries {} · datums dropped {}",
        c.transport_errors
            + s.total("aistudio_sidecar_sink_errors_total")
            + s.total("aistudio_sidecar_events_dropped_total"),
        c.transport_errors,
        s.total("aistudio_sidecar_sink_errors_total"),
        s.total("aistudio_sidecar_retries_total"),
        s.total("aistudio_sidecar_metric_datums_dropped_total"),
    ));
    lines
}

/// Draws frames; on a terminal each frame overwrites the previous one.
pub struct Screen {
    tty: bool,
    drawn: usize,
}

impl Screen {
    /// `tty`: redraw in place with ANSI cursor movement; otherwise print only the last frame.
    pub fn new(tty: bool) -> Self {
        Self { tty, drawn: 0 }
    }

    /// Shows `frame` (a no-op when not on a terminal).
    pub fn draw(&mut self, frame: &Frame) {
        if self.tty {
            let text = self.redraw(&render(frame));
            print!("{text}");
        }
    }

    /// Shows `frame` for good (printed once without a terminal).
    pub fn finish(&mut self, frame: &Frame) {
        let lines = render(frame);
        let text = if self.tty {
            self.redraw(&lines)
        } else {
            lines.iter().map(|l| format!("{l}\n")).collect()
        };
        print!("{text}");
        self.drawn = 0;
    }

    fn redraw(&mut self, lines: &[String]) -> String {
        let mut out = String::new();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for l in lines {
            let _ = writeln!(out, "\x1b[2K{l}");
        }
        self.drawn = lines.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_shows_counts_and_redactions_by_kind() {
        let frame = Frame {
            counts: CountsSnapshot {
                requests: 7,
                rate_limited: 2,
                ..CountsSnapshot::default()
            },
            lines_written: 12,
            sidecar: Some(Samples::parse(
                "aistudio_sidecar_lines_read_total 12\naistudio_sidecar_redactions_total{rule=\"email\"} 3\naistudio_sidecar_redactions_total{rule=\"phone\"} 1\n",
            )),
            ..Frame::default()
        };
        let text = render(&frame).join("\n");
        assert!(text.contains("requests          7"), "{text}");
        assert!(text.contains("429 2"));
        assert!(text.contains("read 12"));
        assert!(text.contains("email 3 · phone 1"));
    }

    #[test]
    fn after_the_traffic_the_clock_splits_traffic_from_shutdown() {
        let running = Frame {
            elapsed: Duration::from_millis(12_300),
            duration: Duration::from_secs(30),
            ..Frame::default()
        };
        assert!(render(&running)[0].contains(" 12.3 s / 30 s of traffic"));
        let done = Frame {
            elapsed: Duration::from_millis(33_600),
            traffic_took: Some(Duration::from_millis(30_100)),
            ..running
        };
        let header = &render(&done)[0];
        assert!(
            header.contains("30.1 s of traffic (planned 30 s) + 3.5 s catch-up and shutdown"),
            "{header}"
        );
        assert!(!header.contains("/ 30 s"), "{header}");
    }

    #[test]
    fn redraw_moves_the_cursor_back_over_the_last_frame() {
        let mut s = Screen::new(true);
        let first = s.redraw(&["a".into(), "b".into()]);
        assert!(!first.contains("\x1b[2A"));
        let second = s.redraw(&["c".into(), "d".into()]);
        assert!(second.starts_with("\x1b[2A"));
    }
}
