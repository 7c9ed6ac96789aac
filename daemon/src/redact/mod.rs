//! Redaction of personal data and secrets (placeholder until the redaction issue lands).

use serde::{Deserialize, Serialize};

/// Settings of the redaction stage (`[redact]` in the config file).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {}

/// Copies stdin to stdout line by line through the redactor.
pub fn filter_stdio(_config: &RedactConfig) -> anyhow::Result<()> {
    anyhow::bail!("redaction is not built yet")
}
