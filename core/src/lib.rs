//! Leaf facts and plumbing that the sidecar (`daemon`) and the provisioning engine
//! (`provision`) share, defined once: the `AIStudio/Streaming` metric [`catalog`], the
//! CloudWatch [`limits`] that bite, the one [`stats::percentile`], the [`clock`], the shared
//! [`backoff`], and [`aws`] (client construction with timeouts, one error classification per
//! service, one retry loop). Nothing here depends on the pipeline.

pub mod aws;
pub mod backoff;
pub mod bounds;
pub mod catalog;
pub mod clock;
pub mod limits;
pub mod stats;
