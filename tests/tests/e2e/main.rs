//! Every end-to-end test in one test binary: one crate to compile and one executable to link
//! instead of one per file (each links the whole dependency graph, the AWS SDK included), which
//! was most of the suite's build. Each file is a module; `cargo test -p tests --test e2e NAME`
//! runs the tests whose path contains NAME (a file's module name selects the file).

mod alarm_tests_cli;
mod aws_emulator;
mod aws_tls;
mod dashboards_preview;
mod demo_emulator;
mod demo_run;
mod deploy_kit;
mod metrics_emulator;
mod metrics_outputs;
mod provision_emulator;
mod provision_resources;
mod provision_slack;
mod provision_validate;
mod relay_emulator;
mod relay_slack;
mod relay_verify;
mod server_api;
mod server_auth_flood;
mod server_connections;
mod server_jwt;
mod server_logs;
mod server_openai_client;
mod server_provider_latency;
mod server_shutdown;
mod server_slowloris;
mod server_upstream;
mod sidecar_black_hole;
mod sidecar_config_bounds;
mod sidecar_disk_full;
mod sidecar_error_classes;
mod sidecar_file_safety;
mod sidecar_fluent;
mod sidecar_health;
mod sidecar_kill_drill;
mod sidecar_operations;
mod sidecar_otlp;
mod sidecar_otlp_limits;
mod sidecar_otlp_metrics;
mod sidecar_pipeline;
mod sidecar_startup;
