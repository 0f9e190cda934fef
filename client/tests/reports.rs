//! `stillepost report` read by HdrHistogram's own implementations: Java's (the Debian
//! package libhdrhistogram-java) for the percentile distribution and the interval log, and
//! Python's (the PyPI package hdrhistogram) for the interval log. Both are installed by
//! .ci/run; elsewhere the test says what is missing and skips, and under CI it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

const JAR: &str = "/usr/share/java/hdrhistogram.jar";

fn reference_available() -> bool {
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    let python = Command::new("python3")
        .args(["-c", "import hdrh.log"])
        .output()
        .is_ok_and(|o| o.status.success());
    if java && python && Path::new(JAR).exists() {
        return true;
    }
    skip(&format!(
        "needs java, {JAR} (apt-get install libhdrhistogram-java) and the Python hdrhistogram package (pip install hdrhistogram); java {java}, python hdrh {python}"
    ));
    false
}

fn java(args: &[&str]) -> String {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hdr/HdrReference.java");
    let out = Command::new("java")
        .args(["-cp", JAR, source])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "java: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exports_read_back_with_hdrhistograms_own_implementations() {
    if !reference_available() {
        return;
    }
    let cluster = Cluster::start("uring", 3);
    cluster.configure(&["--msgcount", "2000", "--window", "16"]);
    let tour = cluster.tour();
    let latency = &tour["tour_latency"];

    // hgrm: line for line what Java's outputPercentileDistribution prints for the same
    // histogram (decoded by Java from the JSON export's V2+DEFLATE bytes).
    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["tour_id"], tour["tour_id"]);
    let encoded = doc["histograms"][0]["hdr_v2_deflate_base64"]
        .as_str()
        .unwrap();
    assert_eq!(doc["histograms"][0]["tag"], "tour");
    let out = cluster.client(&[
        "report",
        tour["tour_id"].as_str().unwrap(),
        "--format",
        "hgrm",
    ]);
    assert_success(&out);
    // One histogram per file: the tour's by default, nothing else in it.
    let ours = stdout(&out);
    assert!(!ours.contains("# "), "{ours}");
    let theirs = java(&["hgrm", encoded]);
    assert!(ours.lines().count() > 20, "{ours}");
    for (n, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        assert_eq!(
            a,
            b,
            "hgrm line {} differs\nours:\n{ours}\nHdrHistogram:\n{theirs}",
            n + 1
        );
    }
    assert_eq!(
        ours.lines().count(),
        theirs.lines().count(),
        "ours:\n{ours}\nHdrHistogram:\n{theirs}"
    );

    // --out-dir: every histogram in a file of its own, named after what it holds, each
    // exactly what HdrHistogram prints for that histogram.
    let files_dir = scratch_dir("hgrm-files");
    let id = tour["tour_id"].as_str().unwrap();
    let out = cluster.client(&[
        "report",
        id,
        "--format",
        "hgrm",
        "--out-dir",
        files_dir.to_str().unwrap(),
    ]);
    assert_success(&out);
    let histograms = doc["histograms"].as_array().unwrap();
    assert_eq!(
        stdout(&out).lines().count(),
        histograms.len(),
        "{}",
        stdout(&out)
    );
    for h in histograms {
        let tag = h["tag"].as_str().unwrap();
        let path = files_dir.join(format!("{id}-{tag}.hgrm"));
        assert!(
            stdout(&out).contains(path.to_str().unwrap()),
            "{}",
            stdout(&out)
        );
        let ours = std::fs::read_to_string(&path).unwrap();
        let theirs = java(&["hgrm", h["hdr_v2_deflate_base64"].as_str().unwrap()]);
        assert_eq!(ours, theirs, "{tag}");
    }
    for tag in [
        "tour",
        "hop-0-1",
        "hop-1-2",
        "hop-2-0",
        "residence-1",
        "residence-2",
    ] {
        assert!(files_dir.join(format!("{id}-{tag}.hgrm")).exists(), "{tag}");
    }
    // --hop and --residence print the one file's histogram.
    let hop = cluster.client(&["report", id, "--format", "hgrm", "--hop", "1"]);
    assert_eq!(
        stdout(&hop),
        std::fs::read_to_string(files_dir.join(format!("{id}-hop-1-2.hgrm"))).unwrap()
    );
    let residence = cluster.client(&["report", id, "--format", "hgrm", "--residence", "2"]);
    assert_eq!(
        stdout(&residence),
        std::fs::read_to_string(files_dir.join(format!("{id}-residence-2.hgrm"))).unwrap()
    );
    let missing = cluster.client(&["report", id, "--format", "hgrm", "--hop", "7"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("has no histogram of hop 7; it has tour, hop-0-1"),
        "{}",
        stderr(&missing)
    );

    // hlog: Java's and Python's log readers find the same histogram as the run reported.
    let dir = std::env::temp_dir().join(format!("stillepost-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hlog = dir.join("tour.hlog");
    let out = cluster.client(&[
        "report",
        "latest",
        "--format",
        "hlog",
        "--out",
        hlog.to_str().unwrap(),
    ]);
    assert_success(&out);
    let expected = format!(
        "tour {} {} {} {}",
        latency["count"], latency["p50_ns"], latency["p99_ns"], latency["max_ns"]
    );
    let java_lines = java(&["hlog", hlog.to_str().unwrap()]);
    let tags: Vec<&str> = java_lines
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "tour",
            "hop-0-1",
            "hop-1-2",
            "hop-2-0",
            "residence-1",
            "residence-2"
        ]
    );
    assert_eq!(java_lines.lines().next().unwrap(), expected);
    // Each hop's histogram holds one value per message, as the JSON says.
    for (i, hop) in tour["hops"].as_array().unwrap().iter().enumerate() {
        let fields: Vec<&str> = java_lines.lines().nth(1 + i).unwrap().split(' ').collect();
        assert_eq!(fields[1], hop["latency"]["count"].to_string());
        assert_eq!(fields[4], hop["latency"]["max_ns"].to_string());
    }
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys\n\
from hdrh.log import HistogramLogReader\n\
from hdrh.histogram import HdrHistogram\n\
r = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3600 * 10**9, 3))\n\
h = r.get_next_interval_histogram()\n\
print(h.get_tag(), h.get_total_count(), h.get_value_at_percentile(50), h.get_value_at_percentile(99), h.get_max_value())",
            hlog.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), expected);

    // csv: one row per percentile step, the last one at 100 % with every message.
    let out = cluster.client(&["report", "latest", "--format", "csv"]);
    assert_success(&out);
    let csv = stdout(&out);
    assert_eq!(
        csv.lines().next(),
        Some("histogram,percentile,value_ns,total_count")
    );
    let last = csv.lines().rfind(|l| l.starts_with("tour,")).unwrap();
    assert_eq!(
        last,
        format!(
            "tour,100.000000000000,{},{}",
            latency["max_ns"], latency["count"]
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Unknown tours and bad ids are named.
    let out = cluster.client(&["report", "00000000000000ff"]);
    assert_failure(
        &out,
        1,
        &["no tour 00000000000000ff is known to this coordinator"],
    );
    let out = cluster.client(&["report", "yesterday"]);
    assert_failure(&out, 2, &["'yesterday' is not a tour id"]);
}

#[test]
fn results_survive_a_coordinator_restart() {
    let mut cluster = Cluster::start("uring", 2);
    cluster.configure(&["--msgcount", "100"]);
    let first = json(&cluster.client(&["run", "--json"]));
    let second = json(&cluster.client(&["run", "--json"]));
    assert_ne!(first["tour_id"], second["tour_id"]);

    // Stop the coordinator and start another on the same address and data directory.
    let addr = cluster.coordinator_addr.clone();
    cluster.coordinator.kill();
    cluster.coordinator = Daemon::coordinator(&addr, &cluster.data_dir);

    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let latest = json(&out);
    assert_eq!(latest["tour_id"], second["tour_id"]);
    assert_eq!(latest["tour_latency"], second["tour_latency"]);
    let out = cluster.client(&[
        "report",
        first["tour_id"].as_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_success(&out);
    assert_eq!(json(&out)["messages_received"], 100);
    // The restarted coordinator knows the last tour, and its ring (whose members still
    // have the configuration it made).
    let status = json(&cluster.client(&["status", "--json"]));
    assert_eq!(status["last_tour"], second["tour_id"]);
    assert_eq!(status["configured"], true);
    // No temporary file is left behind: results, the ring and the coordinator's id.
    for entry in std::fs::read_dir(&cluster.data_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            (name.ends_with(".pb") && name.len() == 19)
                || name == "ring.pb"
                || name == "coordinator-id",
            "{name}"
        );
    }

    // `tours` lists both from the data directory, oldest first, and a unique prefix of an
    // id names its tour in `report` and `pin`.
    let out = cluster.client(&["tours", "--json"]);
    assert_success(&out);
    let tours = json(&out);
    let listed: Vec<&serde_json::Value> = tours["tours"].as_array().unwrap().iter().collect();
    let (a, b) = (
        first["tour_id"].as_str().unwrap(),
        second["tour_id"].as_str().unwrap(),
    );
    assert_eq!(
        listed
            .iter()
            .map(|t| t["tour_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [a, b]
    );
    for (t, tour) in listed.iter().zip([&first, &second]) {
        assert_eq!(t["outcome"], "complete");
        assert_eq!(t["members"], 2);
        assert_eq!(t["messages_received"], 100);
        assert_eq!(t["lost"], 0);
        assert_eq!(t["p50_ns"], tour["tour_latency"]["p50_ns"]);
        assert_eq!(t["p99_ns"], tour["tour_latency"]["p99_ns"]);
        assert_eq!(t["params"]["count"], 100);
        assert_eq!(t["started_unix_ms"], tour["started_unix_ms"]);
        assert_eq!(t["pinned"], false);
    }
    let shared = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let prefix = &a[..shared + 1];
    let out = cluster.client(&["report", prefix, "--format", "json"]);
    assert_success(&out);
    assert_eq!(json(&out)["tour_id"], a);
    let out = cluster.client(&["pin", prefix]);
    assert_success(&out);
    let text = stdout(&cluster.client(&["tours"]));
    let row = text.lines().find(|l| l.starts_with(a)).unwrap();
    assert!(
        row.ends_with("pinned") && row.contains(" complete "),
        "{text}"
    );
    assert!(text.contains("\n2 tours; "), "{text}");
    if shared > 0 {
        let out = cluster.client(&["report", &a[..shared]]);
        assert_failure(&out, 2, &["is the start of 2 tour ids", "give more digits"]);
    }
    let unused = "0123456789abcdef"
        .chars()
        .find(|c| !a.starts_with(*c) && !b.starts_with(*c))
        .unwrap()
        .to_string();
    let out = cluster.client(&["report", &unused]);
    assert_failure(
        &out,
        1,
        &["no tour id starts with", "`stillepost tours` lists"],
    );
}

#[test]
fn report_before_any_tour_says_so() {
    let cluster = Cluster::start("uring", 1);
    let out = cluster.client(&["report", "latest"]);
    assert_failure(&out, 1, &["no tour has finished on this coordinator yet"]);
    let out = cluster.client(&["tours"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "no finished tours on this coordinator yet: `stillepost run` runs one\n"
    );
}

/// The plots' size and line colours, as client/src/plot.rs draws them: the tour's blue,
/// then one colour per hop in ring order, then one per residence.
const PLOT_SIZE: (u32, u32) = (1200, 700);
const TOUR_COLOR: [u8; 3] = [0x1f, 0x77, 0xb4];
const HOP_COLORS: [[u8; 3]; 3] = [[0xff, 0x7f, 0x0e], [0x2c, 0xa0, 0x2c], [0xd6, 0x27, 0x28]];
const RESIDENCE_COLORS: [[u8; 3]; 2] = [[0x94, 0x67, 0xbd], [0x8c, 0x56, 0x4b]];

fn hex(color: [u8; 3]) -> String {
    format!("#{:02X}{:02X}{:02X}", color[0], color[1], color[2])
}

/// The rows of an hgrm file that have a 1/(1-Percentile) column: every percentile step
/// but the final 100 % one.
fn hgrm_rows(hgrm: &str) -> usize {
    hgrm.lines()
        .filter(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() == 4 && fields.iter().all(|f| f.parse::<f64>().is_ok())
        })
        .count()
}

/// The points of an SVG polyline.
fn polyline_points(node: roxmltree::Node) -> Vec<(f64, f64)> {
    node.attribute("points")
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

#[test]
fn plots_draw_every_histogram_as_a_labelled_percentile_line() {
    let cluster = Cluster::start("uring", 3);
    cluster.configure(&["--msgcount", "2000", "--window", "16"]);
    let tour = cluster.tour();
    let id = tour["tour_id"].as_str().unwrap();
    let dir = scratch_dir("plots");
    let out = cluster.client(&[
        "report",
        "latest",
        "--format",
        "hgrm",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_success(&out);
    let hgrm = |tag: &str| std::fs::read_to_string(dir.join(format!("{id}-{tag}.hgrm"))).unwrap();

    // svg: a well-formed document of the plot's size with every label.
    let svg_path = dir.join("tour.svg");
    let out = cluster.client(&[
        "report",
        "latest",
        "--format",
        "svg",
        "--out",
        svg_path.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("1200"));
    assert_eq!(root.attribute("height"), Some("700"));
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    let title = format!(
        "tour {id}: 2000 messages of {} B",
        tour["params"]["msg_len"]
    );
    for label in [
        title.as_str(),
        "tour",
        "hop 0→1",
        "hop 1→2",
        "hop 2→0",
        "residence 1",
        "residence 2",
        "0%",
        "90%",
        "99%",
        "99.9%",
        "percentile",
        "latency (µs)",
    ] {
        assert_eq!(
            texts.iter().filter(|t| **t == label).count(),
            1,
            "one text {label:?} in {texts:?}"
        );
    }
    // One line per histogram, one point per hgrm row with a 1/(1-Percentile), going right
    // and (latency rising) up; the legend's sample lines have two points.
    let polylines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .collect();
    let mut lines = vec![("tour".to_string(), TOUR_COLOR)];
    for (i, color) in HOP_COLORS.iter().enumerate() {
        lines.push((format!("hop-{i}-{}", (i + 1) % 3), *color));
    }
    for (tag, color) in lines {
        let line = polylines
            .iter()
            .filter(|n| n.attribute("stroke") == Some(hex(color).as_str()))
            .map(|n| polyline_points(*n))
            .max_by_key(Vec::len)
            .unwrap_or_else(|| panic!("no {tag} line in {svg}"));
        let rows = hgrm_rows(&hgrm(&tag));
        assert!(rows > 20, "{tag}: {rows} hgrm rows\n{}", hgrm(&tag));
        assert_eq!(line.len(), rows, "{tag}: points {line:?}");
        for pair in line.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{tag}: x not increasing: {pair:?}");
            assert!(pair[0].1 >= pair[1].1, "{tag}: latency falling: {pair:?}");
        }
    }
    // The residences are dashed: many short segments in their colours.
    for color in RESIDENCE_COLORS {
        let segments = svg.matches(&format!("stroke=\"{}\"", hex(color))).count();
        assert!(segments > 10, "{}: {segments} segments", hex(color));
    }
    // Without --out the same document goes to stdout.
    let out = cluster.client(&["report", "latest", "--format", "svg"]);
    assert_success(&out);
    assert_eq!(stdout(&out), svg);

    // --log-y: the latency axis in decades (1, 2 and 5 times each power of ten), the
    // tour's line as many points as before; only for plots.
    let out = cluster.client(&["report", "latest", "--format", "svg", "--log-y"]);
    assert_success(&out);
    let log_svg = stdout(&out);
    let log_doc = roxmltree::Document::parse(&log_svg).unwrap();
    let log_texts: Vec<&str> = log_doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(
        log_texts.contains(&"latency (µs, log scale)"),
        "{log_texts:?}"
    );
    let decades: Vec<f64> = log_texts
        .iter()
        .filter_map(|t| t.parse::<f64>().ok())
        .filter(|v| *v > 0.0 && (v.log10() - v.log10().round()).abs() < 1e-9)
        .collect();
    assert!(decades.len() >= 2, "decade labels in {log_texts:?}");
    let tour_points = |doc: &roxmltree::Document| {
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .filter(|n| n.attribute("stroke") == Some(hex(TOUR_COLOR).as_str()))
            .map(polyline_points)
            .max_by_key(Vec::len)
            .unwrap()
    };
    assert_eq!(tour_points(&log_doc).len(), tour_points(&doc).len());
    let out = cluster.client(&["report", "latest", "--format", "hgrm", "--log-y"]);
    assert_failure(&out, 2, &["--log-y scales a plot's latency axis"]);

    // png: an 8-bit RGB image of the plot's size showing the title and every line.
    let png_path = dir.join("tour.png");
    let out = cluster.client(&[
        "report",
        id,
        "--format",
        "png",
        "--out",
        png_path.to_str().unwrap(),
    ]);
    assert_success(&out);
    let png = std::fs::read(&png_path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), PLOT_SIZE);
    assert_eq!(
        (png[24], png[25]),
        (8, 2),
        "bit depth 8, colour type 2 (RGB)"
    );
    let mut reader = png::Decoder::new(std::io::Cursor::new(&png))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut rgb).unwrap();
    assert_eq!((frame.width, frame.height), PLOT_SIZE);
    let pixels: Vec<[u8; 3]> = rgb[..frame.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let count = |color: [u8; 3]| pixels.iter().filter(|p| **p == color).count();
    // The tour's line (3 px wide) spans most of the plot's width.
    assert!(
        count(TOUR_COLOR) > 1000,
        "{} tour pixels",
        count(TOUR_COLOR)
    );
    for color in HOP_COLORS.iter().chain(&RESIDENCE_COLORS) {
        assert!(
            count(*color) > 40,
            "{}: {} pixels",
            hex(*color),
            count(*color)
        );
    }
    // The title is drawn (dark glyphs in the top rows, where nothing else is).
    let width = PLOT_SIZE.0 as usize;
    let dark_on_top = pixels[..40 * width]
        .iter()
        .filter(|p| p.iter().all(|c| *c < 100))
        .count();
    assert!(
        dark_on_top > 200,
        "{dark_on_top} dark pixels in the title rows"
    );
    // Piped, stdout gets the same image.
    let out = cluster.client(&["report", id, "--format", "png"]);
    assert_success(&out);
    assert!(out.stdout == png, "png on stdout differs from --out");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn png_is_not_written_to_a_terminal() {
    // Refused before the coordinator is asked, so none needs to run.
    let Some(out) = on_terminal(&format!(
        "'{}' --coordinator 127.0.0.1:{} report latest --format png",
        bin("stillepost").display(),
        closed_port()
    )) else {
        return;
    };
    let terminal = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{terminal}");
    assert!(
        terminal.contains(
            "--format png writes a binary image: pass --out FILE.png, or redirect stdout"
        ),
        "{terminal}"
    );
    assert!(
        !out.stdout.windows(4).any(|w| w == b"IHDR"),
        "an image reached the terminal"
    );
}
