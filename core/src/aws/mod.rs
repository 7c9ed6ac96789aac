//! AWS access shared by every caller: the `[aws]` config section, the service clients built
//! once with explicit timeouts and a bounded attempt count ([`AwsClients`]), one error
//! classification per service ([`errors`]) and one retry loop ([`retry::retry_until`]).

pub mod errors;
pub mod retry;

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use serde::{Deserialize, Serialize};

pub use errors::{classify, describe, CallError, ErrorClass, Service};
pub use retry::{retry_until, Attempt, GiveUp};

/// Connecting to an endpoint gives up after this long (the SDK's own default is 3.1 s; an
/// endpoint that does not accept within 3 s is down or black-holed).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of one call gives up after this long: a full 1 MiB PutLogEvents batch needs
/// about 8 s at 1 Mbit/s, so 15 s leaves room for a slow link and none for a hung endpoint.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// One call, all its SDK attempts included, gives up after this long (three attempts).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(45);
/// Attempts the SDK makes per call for clients that keep SDK retries (provisioning): its
/// standard mode's default.
pub const MAX_SDK_ATTEMPTS: u32 = 3;

/// `[aws]`: where AWS calls go.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region; overridden by `AWS_REGION`. Without it the SDK's default chain decides.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an emulator or VPC endpoint; overridden by `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

/// The one HTTPS client every SDK config uses (rustls with ring, the system's root
/// certificates), built once per process so that all clients share its connection pool.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    static CLIENT: OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient> =
        OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https()
        })
        .clone()
}

/// The SDK config loader every caller starts from: the default credential and region chain,
/// with [`https_client`] (the SDK crates are built without a default HTTP client).
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The timeouts every client carries.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The AWS service clients, sharing one resolved SDK config.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// CloudWatch Logs (log groups, streams, PutLogEvents).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch (PutMetricData, dashboards, alarms).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// SNS (alarm topics and subscriptions).
    pub sns: aws_sdk_sns::Client,
    /// The resolved SDK config with the shared timeouts and attempt bound, for the clients
    /// only one crate needs (provisioning's Elastic Load Balancing lookups): built from it,
    /// they carry the same limits as these.
    pub sdk: aws_config::SdkConfig,
}

impl AwsClients {
    /// Resolves credentials and region through the default chain (env, profile, ECS container
    /// credentials endpoint, IMDS), with the config's region and endpoint taking precedence.
    pub async fn from_config(aws: &AwsConfig) -> Self {
        let mut loader = sdk_loader();
        if let Some(region) = &aws.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &aws.endpoint_url {
            loader = loader.endpoint_url(endpoint.clone());
        }
        Self::from_sdk_config(&loader.load().await)
    }

    /// Builds the clients from an already resolved SDK config (tests pin credentials this
    /// way); the timeouts and the attempt bound are set here whatever the config says.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        let mut builder = sdk.to_builder();
        if sdk.http_client().is_none() {
            builder.set_http_client(Some(https_client()));
        }
        let sdk = builder
            .timeout_config(timeout_config())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_SDK_ATTEMPTS))
            .build();
        Self {
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            sns: aws_sdk_sns::Client::new(&sdk),
            sdk,
        }
    }

    /// A CloudWatch Logs client making one attempt per call: the log sink retries through
    /// [`retry_until`], with the shared backoff, until the shutdown deadline.
    pub fn logs_single_attempt(&self) -> aws_sdk_cloudwatchlogs::Client {
        let config = self
            .logs
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }

    /// The CloudWatch client for PutMetricData: one attempt per call (the metrics sink retries
    /// through [`retry_until`]) and gzip above `min_compression_bytes`.
    pub fn metrics_single_attempt(&self, min_compression_bytes: u32) -> aws_sdk_cloudwatch::Client {
        let config = self
            .cloudwatch
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .disable_request_compression(false)
            .request_min_compression_size_bytes(min_compression_bytes)
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_carries_the_timeouts_and_the_attempt_bound() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let clients = AwsClients::from_sdk_config(&sdk);
        let timeouts = clients.logs.config().timeout_config().cloned();
        let timeouts = timeouts.expect("timeouts are set");
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        let retry = clients
            .sns
            .config()
            .retry_config()
            .cloned()
            .expect("retry config");
        assert_eq!(retry.max_attempts(), MAX_SDK_ATTEMPTS);
        let single = clients.logs_single_attempt();
        assert_eq!(
            single
                .config()
                .retry_config()
                .map(RetryConfig::max_attempts),
            Some(1)
        );
        let single_timeouts = single.config().timeout_config().cloned();
        assert_eq!(
            single_timeouts.and_then(|t| t.operation_attempt_timeout()),
            Some(ATTEMPT_TIMEOUT)
        );
        let metrics = clients.metrics_single_attempt(1_024);
        assert_eq!(
            metrics
                .config()
                .retry_config()
                .map(RetryConfig::max_attempts),
            Some(1)
        );
    }
}
