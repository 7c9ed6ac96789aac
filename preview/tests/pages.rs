//! The files a preview writes, read back: one self-contained HTML page per dashboard (no
//! script, nothing fetched), a PNG of the page's size with the widgets drawn in it, the index
//! and `preview.json`.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use aistudio_preview::layout::page_size;
use aistudio_preview::About;

#[test]
fn pages_pngs_index_and_manifest() {
    let (preview, problems) = common::preview_fixture();
    let out = tempfile::tempdir().unwrap();
    let about = About {
        env: "dev".into(),
        source: "small.ndjson".into(),
    };
    let written = aistudio_preview::html::write_all(
        out.path(),
        std::slice::from_ref(&preview),
        &about,
        &problems,
    )
    .unwrap();
    assert_eq!(written.index, out.path().join("index.html"));

    let html = std::fs::read_to_string(&written.pages[0]).unwrap();
    assert!(written.pages[0].ends_with("aistudio-dev-every-widget.html"));
    assert_eq!(
        html.matches("<section class=\"widget\"").count(),
        preview.widgets.len()
    );
    // Placeholders substituted by provision's render, Markdown rendered, raw HTML inert.
    assert!(html.contains("<h1>Every widget (dev)</h1>"), "{html}");
    assert!(html.contains("&lt;b&gt;raw html&lt;/b&gt;") && !html.contains("<b>raw"));
    // Self-contained: no script, no stylesheet or image to fetch.
    for needle in ["<script", "<img", "<link rel=\"stylesheet", "src=", "url("] {
        assert!(!html.contains(needle), "{needle} in the page");
    }
    // Each chart is an inline SVG with its series drawn and labelled.
    assert!(html.matches("<svg").count() >= 9);
    assert!(html.contains("<polyline"));
    for label in [
        "created",
        "failed",
        "p95",
        "job max",
        "error %",
        "no data in this preview",
        "not supported in previews",
    ] {
        assert!(html.contains(label), "{label} missing from the page");
    }

    let png = std::fs::read(&written.pngs[0]).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    let cells: Vec<_> = preview.widgets.iter().map(|w| w.cell).collect();
    assert_eq!((be(16), be(20)), page_size(&cells));
    // A drawn page compresses far worse than an empty one of the same size.
    assert!(png.len() > 20_000, "{} bytes: nothing drawn?", png.len());

    let index = std::fs::read_to_string(&written.index).unwrap();
    assert!(index.contains("href=\"aistudio-dev-every-widget.html\""));
    assert!(
        index.contains("widgets[9] &quot;Server errors (log query)&quot;"),
        "{index}"
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&written.manifest).unwrap()).unwrap();
    let statuses: Vec<&str> = manifest["dashboards"][0]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "text",
            "data",
            "data",
            "data",
            "data",
            "data",
            "unsupported",
            "no-data",
            "alarm",
            "unsupported",
            "data"
        ]
    );
}

#[test]
fn bad_input_is_one_line_per_problem_naming_file_and_widget() {
    let root = common::fixture_root();
    std::fs::write(
        root.path().join("dashboards/broken.json"),
        "{\"widgets\": [",
    )
    .unwrap();
    let mut problems = Vec::new();
    let defs = aistudio_preview::load_definitions(
        root.path(),
        &provision::render::Placeholders::defaults("dev", "us-east-1"),
        &mut problems,
    );
    // The broken dashboard is reported, the good one still previewed.
    assert_eq!(defs.dashboards.len(), 1);
    let mut store = aistudio_preview::DatumStore::default();
    let missing = root.path().join("no-such.ndjson");
    aistudio_preview::datums::read_file(&missing, &mut store, &mut problems);
    let garbage = root.path().join("garbage.ndjson");
    std::fs::write(&garbage, b"\xff\xfe\n{\"Namespace\": 1}\n").unwrap();
    aistudio_preview::datums::read_file(&garbage, &mut store, &mut problems);
    aistudio_preview::datums::read_file(
        &common::fixture("small.ndjson"),
        &mut store,
        &mut problems,
    );
    let range = aistudio_preview::range_of(&store, None).unwrap();
    aistudio_preview::build(&defs, &store, range, &mut problems);
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == aistudio_preview::Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.iter().all(|l| !l.contains('\n')));
    let has = |parts: &[&str]| errors.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(has(&["broken.json", "EOF"]), "{errors:#?}");
    assert!(
        has(&["no-such.ndjson", "cannot read the datum file"]),
        "{errors:#?}"
    );
    assert!(
        has(&["garbage.ndjson", "line 1", "not UTF-8"]),
        "{errors:#?}"
    );
    assert!(
        has(&["garbage.ndjson", "line 2", "not a metric datum"]),
        "{errors:#?}"
    );
    assert!(
        has(&[
            "every-widget.json",
            "widgets[9] \"Server errors (log query)\"",
            "`log` is not supported"
        ]),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 5, "{errors:#?}");
}
