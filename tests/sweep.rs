//! `analogc sweep` and `analogc merge`: Walking Noise over a σ grid, sharding
//! and merging byte for byte, the midpoint rule, `--sigma` parsing, isolation
//! of one site, `--sweep` of any annotation, the plots.

mod support;

use analogc::sweep::grid::parse_sigma;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::repo;

const WALKING: &str = "examples/mnist_mlp_walking.anl";

fn analogc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_analogc")).args(args).current_dir(repo()).output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("analogc-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "stderr: {}\nstdout: {}", text(&out.stderr), text(&out.stdout));
}

fn json_of(out: &Output) -> Value {
    ok(out);
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn mean(v: &Value) -> f64 {
    v["accuracy"]["mean"].as_f64().unwrap()
}

#[test]
fn sharded_runs_merged_equal_the_unsharded_run_byte_for_byte() {
    let dir = scratch("shards");
    let whole = dir.join("whole");
    let common = ["sweep", WALKING, "--limit", "200", "--trials", "2", "--sigma", "0.01,0.3,3,30"];
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let run = |extra: &[&str]| analogc(&[&common[..], extra].concat());
    ok(&run(&["--out", &s(&whole)]));
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("shard{i}"))).collect();
    for (i, shard) in shards.iter().enumerate() {
        let spec = format!("{i}/3");
        // One shard on one thread: results do not depend on the thread count either.
        let threads = if i == 1 { "1" } else { "2" };
        ok(&run(&["--shard", &spec, "--threads", threads, "--out", &s(shard)]));
        let part: Value = serde_json::from_slice(&std::fs::read(shard.join("sweep.json")).unwrap()).unwrap();
        assert_eq!(part["shard"]["count"], 3);
        assert!(part["points"].as_array().unwrap().len() == 4, "12 points over 3 shards");
    }
    let merged = dir.join("merged");
    let shard_args: Vec<String> = shards.iter().map(|p| s(p)).collect();
    let mut args = vec!["merge"];
    args.extend(shard_args.iter().map(String::as_str));
    let merged_s = s(&merged);
    args.extend(["--out", merged_s.as_str()]);
    let out = analogc(&args);
    ok(&out);
    assert!(text(&out.stdout).contains("midpoints"), "{}", text(&out.stdout));
    for name in ["sweep.csv", "sweep.json"] {
        let (a, b) = (std::fs::read(whole.join(name)).unwrap(), std::fs::read(merged.join(name)).unwrap());
        assert!(a == b, "{name} differs:\n{}\n---\n{}", text(&a), text(&b));
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(whole.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(doc["sites"], json!(["fc1", "fc2", "fc3"]));
    assert_eq!(doc["grid"], json!([0.01, 0.3, 3.0, 30.0]));
    assert!(doc["midpoints"].is_object() && doc["clean_accuracy"].is_number() && doc["chance"] == json!(0.1));
    assert!(doc.get("seconds").is_none(), "no timings in the files");
    // The same points again with the same seed give the same bits; another seed does not.
    let again = analogc(&[&common[..], &["--json"]].concat());
    let again = json_of(&again);
    assert_eq!(again["points"], doc["points"]);
    // The plots of the unsharded and the merged run.
    for d in [&whole, &merged] {
        let png = std::fs::read(d.join("sweep.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a PNG with content: {} bytes", png.len());
        let svg = text(&std::fs::read(d.join("sweep.svg")).unwrap());
        for want in ["<svg", "fc1", "fc2", "fc3", "clean", "chance", "accuracy (%)", "midpoint"] {
            assert!(svg.contains(want), "the SVG has `{want}`");
        }
        assert!(!d.read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("partial")));
    }
    // A shard missing is an error, not a smaller result.
    let out = analogc(&["merge", &shard_args[0], &shard_args[2], "--out", &s(&dir.join("incomplete"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("missing") && text(&out.stderr).contains("error[E0707]"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hand-made shard result: sites `a` (90, 80, 30, 10 of 100 correct) and
/// `b` (flat at 90) on σ = 0.1, 1, 10, 100, clean 90%, 10 classes.
#[test]
fn midpoint_is_interpolated_in_log_sigma() {
    let dir = scratch("midpoint");
    let curve = |site: &str, hits: [usize; 4]| -> Vec<Value> {
        ["0.1", "1", "10", "100"]
            .iter()
            .zip(hits)
            .map(|(v, h)| json!({ "site": site, "value_text": v, "hits": [h] }))
            .collect()
    };
    let points: Vec<Value> = [curve("a", [90, 80, 30, 10]), curve("b", [90, 90, 90, 90])].concat();
    let doc = json!({
        "model": "m",
        "classes": 10,
        "settings": {
            "file": "m.anl", "data": "d", "samples": 100, "trials": 1, "seed": 0, "sites": "mac",
            "kind": "additive", "ratio": "0.5", "sigma": "0.1,1,10,100", "global": false, "sweep": null, "set": []
        },
        "sites": ["a", "b"],
        "clean_hits": 90,
        "points": points,
        "shard": { "index": 0, "count": 1 },
    });
    let shard = dir.join("shard");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join("sweep.json"), doc.to_string()).unwrap();
    let out = analogc(&["merge", shard.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap(), "--json"]);
    let v = json_of(&out);
    // Level (90% + 10%) / 2 = 50%, crossed between σ = 1 (80%) and σ = 10
    // (30%) at t = (80 − 50) / (80 − 30) = 0.6 of the way in log σ: 10^0.6.
    let a = v["midpoints"]["a"].as_f64().unwrap();
    assert!((a - 10f64.powf(0.6)).abs() < 1e-12, "{a}");
    assert_eq!(v["midpoints"]["b"], Value::Null, "a flat curve has no midpoint");
    assert_eq!(v["midpoint_level"], json!(0.5));
    let table = analogc(&["merge", shard.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()]);
    ok(&table);
    let t = text(&table.stdout);
    assert!(t.contains("3.981") && t.contains("none"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigma_grids_are_parsed_with_exact_endpoints() {
    let grid = |spec: &str| -> Vec<f64> { parse_sigma(spec).unwrap() };
    let g = grid("1e-3..1e1:25");
    assert_eq!(g.len(), 25);
    assert_eq!((g[0], g[24]), (1e-3, 10.0));
    assert!((g[6] - 1e-2).abs() < 1e-15 && (g[12] - 0.1).abs() < 1e-14, "{g:?}");
    assert!(g.windows(2).all(|w| (w[1] / w[0] - 10f64.powf(1.0 / 6.0)).abs() < 1e-12), "log-spaced");
    assert_eq!(grid("0.5..2:2"), vec![0.5, 2.0]);
    assert_eq!(grid("0.1, 0.5,1"), vec![0.1, 0.5, 1.0]);
    // The default is 25 points from 1e-3 to 10.
    let out = analogc(&["sweep", WALKING, "--limit", "1", "--trials", "1", "--json"]);
    let v = json_of(&out);
    assert_eq!(v["grid"].as_array().unwrap().len(), 25);
    assert_eq!(v["points"].as_array().unwrap().len(), 75, "3 MAC layers × 25 points");
    for bad in
        ["1..0.1:5", "0..1:5", "1e-3..1e1", "1e-3..1e1:1", "1e-3..1e1:x", "a,b", "0.5,0.1", "1,-1", "", "1..2..3:4"]
    {
        let out = analogc(&["sweep", WALKING, "--limit", "1", "--trials", "1", "--sigma", bad]);
        assert_eq!(out.status.code(), Some(1), "`{bad}` is rejected");
        let err = text(&out.stderr);
        assert!(err.contains("error[E0017]") && err.contains(&format!("`--sigma {bad}`")), "{bad}: {err}");
        assert!(out.stdout.is_empty());
    }
    for (flag, bad) in [("--shard", "3/3"), ("--shard", "x"), ("--sweep", "gain=1,2"), ("--sweep", "fc1.noise.sigma=a")]
    {
        let out = analogc(&["sweep", WALKING, "--limit", "1", "--trials", "1", flag, bad]);
        assert_eq!(out.status.code(), Some(1), "{flag} {bad}");
        assert!(text(&out.stderr).contains("error[E0017]"), "{}", text(&out.stderr));
    }
}

/// The walking model with strong read noise everywhere: a walk must switch all of it off but one site.
fn loud_model(dir: &Path) -> PathBuf {
    let root = repo();
    let src = format!(
        r#"profile read {{
  noise additive(sigma = 20)
}}
model loud {{
  weights "{}"
  data "{}"
  input image: u8[1, 28, 28] {{
    scale(1/255)
    normalize(mean = 0.1307, std = 0.3081)
    flatten
    noise additive(sigma = 20)
  }}
  fc1 = dense(image, 256) on read {{ weight_noise additive(sigma = 1) }}
  h1  = relu(fc1) on read
  fc2 = dense(h1, 256) on read
  h2  = relu(fc2) on read
  fc3 = dense(h2, 10) on read
  output logits = fc3
}}
"#,
        root.join("examples/weights/mnist_mlp.safetensors").display(),
        root.join("data/mnist").display()
    );
    let path = dir.join("loud.anl");
    std::fs::write(&path, src).unwrap();
    path
}

#[test]
fn the_walk_isolates_one_site() {
    let dir = scratch("isolate");
    let model = loud_model(&dir);
    let m = model.to_str().unwrap();
    // As written, the model is at chance level.
    let eval = analogc(&["eval", m, "--limit", "200", "--trials", "1", "--json"]);
    let e = json_of(&eval);
    assert!(e["accuracy"]["mean"].as_f64().unwrap() < 0.5, "{e}");
    // σ = 0 on every site, one at a time and all at once: the clean accuracy.
    let out = analogc(&[
        "sweep", m, "--sites", "all", "--global", "--limit", "200", "--trials", "1", "--sigma", "0", "--json",
    ]);
    let v = json_of(&out);
    let clean = v["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.9);
    let sites: Vec<&str> = v["sites"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(sites, ["image", "fc1", "h1", "fc2", "h2", "fc3", "global"]);
    for p in v["points"].as_array().unwrap() {
        assert_eq!(mean(p), clean, "{p}");
    }
    // A large σ: the swept site's accuracy drops, at σ = 0 it stays clean.
    let out = analogc(&["sweep", m, "--limit", "200", "--trials", "1", "--sigma", "0,1000", "--json"]);
    let v = json_of(&out);
    for p in v["points"].as_array().unwrap() {
        if p["value"] == json!(0.0) {
            assert_eq!(mean(p), clean, "{p}");
        } else {
            assert!(mean(p) < 0.6, "{p}");
        }
    }
    // Multiplicative and mixed noise walk too.
    for kind in ["multiplicative", "mixed"] {
        let out =
            analogc(&["sweep", m, "--kind", kind, "--limit", "50", "--trials", "1", "--sigma", "0,0.1", "--json"]);
        let v = json_of(&out);
        assert_eq!(v["settings"]["kind"], kind);
        assert_eq!(v["points"].as_array().unwrap().len(), 6);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sweep_any_annotation_by_its_set_path() {
    let dir = scratch("gain");
    let out = analogc(&[
        "sweep",
        "examples/mnist_mlp_abfp.anl",
        "--sweep",
        "abfp8.format.gain=1,4,16",
        "--limit",
        "100",
        "--trials",
        "2",
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["sites"], json!(["abfp8.format.gain"]));
    assert_eq!(v["axis"], "abfp8.format.gain");
    assert_eq!(v["grid"], json!([1.0, 4.0, 16.0]));
    assert_eq!(v["points"].as_array().unwrap().len(), 3);
    assert!(v["points"].as_array().unwrap().iter().all(|p| mean(p) > 0.5));
    let csv = text(&std::fs::read(dir.join("sweep.csv")).unwrap());
    assert!(csv.starts_with("site,value,mean,std,ci95_lo,ci95_hi,trials\nabfp8.format.gain,1,"), "{csv}");
    assert!(std::fs::metadata(dir.join("sweep.png")).unwrap().len() > 10_000);
    // A path that names nothing gets the `--set` diagnostic.
    let out = analogc(&[
        "sweep",
        "examples/mnist_mlp_abfp.anl",
        "--sweep",
        "abfp9.format.gain=1,2",
        "--limit",
        "10",
        "--trials",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0016"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
