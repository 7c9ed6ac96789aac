//! Criterion bench of the per-line cost of the redactor on JSON and plain lines.
fn main() {}
