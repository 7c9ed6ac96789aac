//! The pages in a real browser: Debian's `chromium`, headless, driven over the DevTools
//! protocol (`headless_chrome`), opens every HTML page the preview writes from disk (the
//! shipped dashboards and the fixture with one widget of each kind, from the small datum
//! set) and the index, and the test reads the rendered DOM: the widget count and titles are
//! the dashboard definition's, every widget with data has a non-empty plot, and the browser
//! reported no console error, no exception and no request besides the page itself.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aistudio_preview::{About, DatumStore};
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::Network;
use headless_chrome::{Browser, LaunchOptions};
use provision::render::Placeholders;
use serde_json::Value;

/// Debian's package installs the browser here (`scripts/test.sh` installs it when missing).
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one DevTools call may take before the test fails (a page here loads in well
/// under a second; the first start of a browser takes a few).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads each widget of the page: its title as rendered, status, and what its plot holds.
const DOM_CHECK: &str = r#"JSON.stringify([...document.querySelectorAll('main section.widget')].map(s => {
  const svg = s.querySelector('.plot svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const lines = svg ? [...svg.querySelectorAll('polyline')].filter(p => (p.getAttribute('points') || '').trim().split(/\s+/).length >= 2).length : 0;
  const numbers = svg ? [...svg.querySelectorAll('text')].filter(t => /\d/.test(t.textContent)).length : 0;
  const h2 = s.querySelector('h2');
  return {title: h2 ? h2.textContent : '', status: s.dataset.status, kind: s.dataset.kind,
          width: box.width, height: box.height, lines, numbers,
          markdown: (s.querySelector('.markdown') || {innerText: ''}).innerText.length};
}))"#;

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    assert!(
        path.is_file(),
        "{} is missing: install Debian's chromium (bash scripts/test.sh does: apt-get install -y chromium)",
        path.display()
    );
    path
}

/// Everything the browser said about one page.
#[derive(Default)]
struct Heard {
    errors: Vec<String>,
    requests: Vec<String>,
}

#[test]
fn every_page_renders_in_chromium_without_errors_or_requests() {
    // Definitions: the shipped dashboards and the fixture, rendered for dev.
    let root = common::fixture_root();
    for entry in std::fs::read_dir(common::repo().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            root.path()
                .join("dashboards")
                .join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let mut problems = Vec::new();
    let defs = aistudio_preview::load_definitions(
        root.path(),
        &Placeholders::defaults("dev", "us-east-1"),
        &mut problems,
    );
    let mut store = DatumStore::default();
    aistudio_preview::datums::read_file(
        &common::fixture("small.ndjson"),
        &mut store,
        &mut problems,
    );
    let range = aistudio_preview::range_of(&store, None).unwrap();
    let previews = aistudio_preview::build(&defs, &store, range, &mut problems);
    assert_eq!(previews.len(), defs.dashboards.len());
    let out = tempfile::tempdir().unwrap();
    let about = About {
        env: "dev".into(),
        source: "small.ndjson".into(),
    };
    let written =
        aistudio_preview::html::write_all(out.path(), &previews, &about, &problems).unwrap();

    let profile = tempfile::tempdir().unwrap();
    let args: Vec<&OsStr> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .headless(true)
        .sandbox(false)
        .user_data_dir(Some(profile.path().to_path_buf()))
        .args(args)
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let browser = Browser::new(options).unwrap();

    let mut pages: Vec<(PathBuf, Option<&aistudio_preview::Dashboard>)> = written
        .pages
        .iter()
        .zip(&previews)
        .map(|(page, p)| {
            (
                page.clone(),
                defs.dashboards.iter().find(|d| d.name == p.name),
            )
        })
        .collect();
    pages.push((written.index.clone(), None));
    let mut checked_plots = 0;
    for (page, definition) in pages {
        let url = format!("file://{}", page.display());
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(CALL_TIMEOUT);
        let heard = Arc::new(Mutex::new(Heard::default()));
        let sink = Arc::clone(&heard);
        let own_url = url.clone();
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let mut h = sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match event {
                Event::RuntimeExceptionThrown(e) => h
                    .errors
                    .push(format!("exception: {:?}", e.params.exception_details.text)),
                Event::RuntimeConsoleAPICalled(e) => h.errors.push(format!(
                    "console.{:?}: {:?}",
                    e.params.Type,
                    e.params.args.first().and_then(|a| a.value.clone())
                )),
                Event::LogEntryAdded(e) => h.errors.push(format!(
                    "log {:?}: {}",
                    e.params.entry.level, e.params.entry.text
                )),
                Event::NetworkRequestWillBeSent(e) if e.params.request.url != own_url => {
                    h.requests.push(e.params.request.url.clone())
                }
                _ => {}
            }
        }))
        .unwrap();
        tab.enable_log().unwrap();
        tab.enable_runtime().unwrap();
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .unwrap();
        tab.navigate_to(&url)
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        let result = tab.evaluate(DOM_CHECK, false).unwrap();
        let text = result
            .value
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap();
        let widgets: Vec<Value> = serde_json::from_str(&text).unwrap();
        {
            let h = heard.lock().unwrap();
            assert!(
                h.errors.is_empty() && h.requests.is_empty(),
                "{}: errors {:?}, requests {:?}",
                page.display(),
                h.errors,
                h.requests
            );
        }
        let Some(definition) = definition else {
            // The index: one row per dashboard, links only.
            assert!(widgets.is_empty());
            let rows = tab
                .evaluate(
                    "String(document.querySelectorAll('table tr a[href$=\".html\"]').length)",
                    false,
                )
                .unwrap();
            assert_eq!(
                rows.value.unwrap().as_str().unwrap(),
                previews.len().to_string()
            );
            continue;
        };
        let defined = definition.body["widgets"].as_array().unwrap();
        assert_eq!(
            widgets.len(),
            defined.len(),
            "{}: widget count",
            page.display()
        );
        for (got, want) in widgets.iter().zip(defined) {
            let title = want["properties"]["title"].as_str().unwrap_or("");
            assert_eq!(got["title"], title, "{}", page.display());
            assert_eq!(got["kind"], want["type"], "{}", page.display());
            match got["status"].as_str().unwrap() {
                "data" => {
                    assert!(
                        got["width"].as_f64().unwrap() > 0.0
                            && got["height"].as_f64().unwrap() > 0.0,
                        "{got}"
                    );
                    let single = want["properties"]["view"] == "singleValue";
                    let drawn = if single {
                        got["numbers"].as_u64()
                    } else {
                        got["lines"].as_u64()
                    };
                    assert!(drawn.unwrap() > 0, "{}: empty plot: {got}", page.display());
                    checked_plots += 1;
                }
                "text" => assert!(got["markdown"].as_u64().unwrap() > 0, "{got}"),
                "no-data" | "unsupported" | "alarm" => {
                    assert!(got["height"].as_f64().unwrap() > 0.0, "{got}")
                }
                other => panic!("{}: unknown status {other}", page.display()),
            }
        }
        tab.close(false).unwrap();
    }
    // The small datum set feeds the fixture's charts and some shipped widgets.
    assert!(
        checked_plots >= 8,
        "only {checked_plots} plots with data were checked"
    );
}
