//! After a run that shipped to CloudWatch (an account or the emulator): the AWS CLI commands
//! that read the logs, the metrics and the alarm states back, and the next step to take.

use std::fmt::Write as _;

use aistudio_core::catalog::{default_log_group, APP_NAMESPACE, ENVIRONMENT_DIMENSION};

/// The metric the printed `get-metric-data` reads: one every run produces.
const SAMPLE_METRIC: &str = "JobsCreated";

/// What the commands read: the environment, where, and the run's time window.
#[derive(Debug, Clone)]
pub struct Target {
    /// The demo's environment (`--env`).
    pub env: String,
    /// `AWS_ENDPOINT_URL` (the emulator), `None` for AWS itself.
    pub endpoint: Option<String>,
    /// Start of the window, RFC 3339 UTC (a minute before the traffic started).
    pub from: String,
    /// End of the window, RFC 3339 UTC (a few minutes after the run).
    pub to: String,
    /// Whether the dashboards and alarms were applied (`--apply`), so alarm states exist.
    pub alarms: bool,
}

impl Target {
    /// The log group the sidecar shipped to: the default of the environment (the demo
    /// removes `AISTUDIO_LOG_GROUP` from the sidecar's environment).
    pub fn log_group(&self) -> String {
        default_log_group(&self.env)
    }

    /// `aws [--endpoint-url URL]`.
    fn aws(&self) -> String {
        match &self.endpoint {
            Some(url) => format!("aws --endpoint-url {url}"),
            None => "aws".to_owned(),
        }
    }

    /// One command per line, each runnable as printed (no shell functions, no GNU `date`).
    pub fn commands(&self) -> Vec<String> {
        let aws = self.aws();
        let mut commands = vec![
            format!(
                "{aws} logs filter-log-events --log-group-name {} --limit 5",
                self.log_group()
            ),
            format!(
                "{aws} cloudwatch list-metrics --namespace {APP_NAMESPACE} --dimensions Name={ENVIRONMENT_DIMENSION},Value={}",
                self.env
            ),
            // GetMetricData matches the dimensions exactly, as CloudWatch does everywhere;
            // moto's GetMetricStatistics also sums the per-provider series into Environment.
            format!(
                "{aws} cloudwatch get-metric-data --metric-data-queries '[{{\"Id\":\"jobs\",\"MetricStat\":{{\"Metric\":{{\"Namespace\":\"{APP_NAMESPACE}\",\"MetricName\":\"{SAMPLE_METRIC}\",\"Dimensions\":[{{\"Name\":\"{ENVIRONMENT_DIMENSION}\",\"Value\":\"{}\"}}]}},\"Period\":60,\"Stat\":\"Sum\"}}}}]' --start-time {} --end-time {}",
                self.env, self.from, self.to
            ),
        ];
        if self.alarms {
            commands.push(format!(
                "{aws} cloudwatch describe-alarms --alarm-name-prefix aistudio-{}- --query 'MetricAlarms[].[AlarmName,StateValue]' --output text",
                self.env
            ));
        }
        commands
    }

    /// The closing block on the terminal: where the logs went and how to read everything back.
    pub fn text(&self) -> String {
        let mut text = format!(
            "\nThe logs are in the log group {} (metrics in {APP_NAMESPACE}, Environment={}). Read them back with the AWS CLI:\n",
            self.log_group(),
            self.env
        );
        for command in self.commands() {
            let _ = writeln!(text, "  {command}");
        }
        if !self.alarms {
            let _ = writeln!(
                text,
                "Next: apply the dashboards and alarms there with target/release/aistudio-sidecar provision apply --env {} (provision/README.md).",
                self.env
            );
        }
        text
    }
}

/// The next step after a local run.
pub fn local_next_step(out: &std::path::Path) -> String {
    format!(
        "\nNext: open {}/previews/index.html in a browser and read {}/report.md.\n      scripts/demo.sh --emulator runs the same demo against a local AWS emulator, applies the\n      dashboards and alarms there and prints the AWS CLI commands that read them back.",
        out.display(),
        out.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_group_the_endpoint_and_the_window() {
        let target = Target {
            env: "dev".into(),
            endpoint: Some("http://127.0.0.1:5000".into()),
            from: "2026-01-05T10:00:00Z".into(),
            to: "2026-01-05T10:05:00Z".into(),
            alarms: true,
        };
        let commands = target.commands();
        assert_eq!(commands.len(), 4);
        assert!(commands[0].starts_with(
            "aws --endpoint-url http://127.0.0.1:5000 logs filter-log-events --log-group-name /aws/ecs/aistudio-dev-frontend"
        ));
        assert!(commands[2].contains("--start-time 2026-01-05T10:00:00Z"));
        assert!(commands[3].contains("--alarm-name-prefix aistudio-dev-"));
        let without = Target {
            endpoint: None,
            alarms: false,
            ..target
        };
        assert!(without.commands().iter().all(|c| c.starts_with("aws ")));
        assert!(without.text().contains("Next: apply"));
    }
}
