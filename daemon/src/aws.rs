//! AWS clients built once from the config through the SDK's default chain.

use aws_config::{BehaviorVersion, Region};

use crate::config::AwsConfig;

/// The AWS service clients the sidecar uses, sharing one resolved SDK config.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// CloudWatch Logs (log groups, streams, PutLogEvents).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch (PutMetricData, dashboards, alarms).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// SNS (alarm topics and subscriptions).
    pub sns: aws_sdk_sns::Client,
}

impl AwsClients {
    /// Resolves credentials and region through the default chain (env, profile, ECS container
    /// credentials endpoint, IMDS), with the config's region and endpoint taking precedence.
    pub async fn from_config(aws: &AwsConfig) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &aws.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &aws.endpoint_url {
            loader = loader.endpoint_url(endpoint.clone());
        }
        Self::from_sdk_config(&loader.load().await)
    }

    /// A CloudWatch Logs client whose SDK-level retries are off: the log sink retries itself
    /// with the shared backoff and without a bound, so nothing is given up after 3 attempts.
    pub fn logs_without_sdk_retries(&self) -> aws_sdk_cloudwatchlogs::Client {
        let config = self
            .logs
            .config()
            .to_builder()
            .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }

    /// Builds the clients from an already resolved SDK config (tests pin credentials this way).
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
        }
    }
}
