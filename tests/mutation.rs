//! The front end never panics, whatever the input: every fixture and example
//! is mutated many ways (truncation, token deletion, duplication and swaps,
//! garbage bytes, numbers replaced by 0, −1, 1e40, NaN…) and each mutant must
//! come back as diagnostics or a checked model — and render — without a panic;
//! and every mutant that checks clean runs on the interpreter and on the JIT,
//! which must agree bit for bit.

mod support;

use analogc::check::check_source;
use analogc::diag::render;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use support::{anl_files, repo, Rooted};

/// How many mutants in all; CI runs them all.
const MUTANTS: usize = 12_000;

/// splitmix64: a tiny deterministic generator, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        support::splitmix64(&mut self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Byte ranges of tokens: runs of word characters, or single other characters.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
        let mut end = i + c.len_utf8();
        if word(c) {
            while let Some(&(j, d)) = chars.peek() {
                if !word(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
        }
        out.push((i, end));
    }
    out
}

const NUMBERS: &[&str] =
    &["0", "-1", "1e40", "NaN", "1e400", "-0", "99999999999999999999", "0.5", "1/0", "3.4e38", "-1e-320"];
const GARBAGE: &[&str] = &[
    "{", "}", "(", ")", "[", "]", "\"", "=", ",", ";", "\n", "\t", "%", "/", "//", "\u{0}", "\u{feff}", "é", "🙂",
    "\r", "\\", "on", "model", "input", "noise", "-", ".",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let toks = tokens(text);
    let pick = |rng: &mut Rng| toks[rng.below(toks.len())];
    let boundary = |rng: &mut Rng| {
        let mut i = rng.below(text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    if toks.is_empty() {
        return GARBAGE[rng.below(GARBAGE.len())].to_string();
    }
    match rng.below(9) {
        0 => text[..boundary(rng)].to_string(),
        1 => {
            let (s, e) = pick(rng);
            format!("{}{}", &text[..s], &text[e..])
        }
        2 => {
            let (s, e) = pick(rng);
            format!("{}{}{}", &text[..e], &text[s..e], &text[e..])
        }
        3 => {
            let k = rng.below(toks.len().saturating_sub(1));
            let ((a0, a1), (b0, b1)) = (toks[k], toks[(k + 1).min(toks.len() - 1)]);
            if b0 < a1 {
                return text.to_string();
            }
            format!("{}{}{}{}{}", &text[..a0], &text[b0..b1], &text[a1..b0], &text[a0..a1], &text[b1..])
        }
        4 => {
            let at = boundary(rng);
            let junk: String = (0..1 + rng.below(4)).map(|_| GARBAGE[rng.below(GARBAGE.len())]).collect();
            format!("{}{junk}{}", &text[..at], &text[at..])
        }
        5 => {
            let numbers: Vec<_> =
                toks.iter().filter(|(s, _)| text[*s..].starts_with(|c: char| c.is_ascii_digit())).collect();
            let Some(&&(s, e)) = numbers.get(rng.below(numbers.len())) else { return text.to_string() };
            format!("{}{}{}", &text[..s], NUMBERS[rng.below(NUMBERS.len())], &text[e..])
        }
        6 => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let k = rng.below(lines.len());
            let mut out: Vec<&str> = lines.clone();
            if rng.below(2) == 0 {
                out.remove(k);
            } else {
                out.insert(k, lines[k]);
            }
            out.concat()
        }
        7 => {
            let words: Vec<_> = toks.iter().filter(|(s, _)| text[*s..].starts_with(char::is_alphabetic)).collect();
            if words.is_empty() {
                return text.to_string();
            }
            let (s, e) = *words[rng.below(words.len())];
            let (r0, r1) = *words[rng.below(words.len())];
            format!("{}{}{}", &text[..s], &text[r0..r1], &text[e..])
        }
        _ => {
            // Several mutations at once.
            let once = mutate(text, rng);
            mutate(&once, rng)
        }
    }
}

/// Lowers, optimizes and runs `model` on one sample of every input, on the
/// interpreter and on the JIT: the two must agree bit for bit.
fn run_backend(model: &analogc::check::CheckedModel, loader: &Rooted) {
    use analog_runtime::ir::hardware::Multiplier;
    use analog_runtime::ir::NodeKind;
    use analogc::engine::{Backend, Engine};
    let mut lowered = analogc::lower::lower(model, loader).expect("a checked model lowers");
    analogc::passes::run_pipeline(&mut lowered);
    // Table paths are relative to the root; both backends read them from here.
    for n in &mut lowered.graph.nodes {
        if let Multiplier::Table { path, .. } = &mut n.hw.multiplier {
            *path = loader.root.join(&*path);
        }
    }
    let g = &lowered.graph;
    let inputs: Vec<Vec<f32>> = g
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Input { shape, .. } => Some(vec![0.5; shape.iter().product()]),
            _ => None,
        })
        .collect();
    let refs: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
    let outputs = |backend| {
        let engine = Engine::new(g, backend, analogc::Kernels::Native)
            .unwrap_or_else(|_| panic!("{backend:?} cannot run a checked model"));
        let chip = engine.chip(1, 0);
        engine.run(&chip, &mut engine.workspace(), 0, &refs, 1)
    };
    let interp = outputs(Backend::Interp);
    assert_eq!(interp.len(), g.outputs.len());
    let bits =
        |ys: &[Vec<f32>]| -> Vec<Vec<u32>> { ys.iter().map(|y| y.iter().map(|v| v.to_bits()).collect()).collect() };
    assert_eq!(bits(&outputs(Backend::Jit)), bits(&interp), "the JIT and the interpreter disagree");
}

/// The message of the latest panic, kept by the panic hook.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

#[test]
fn no_mutant_panics() {
    let root = repo();
    let mut corpus: Vec<(PathBuf, String)> = vec![];
    for (dir, prefix) in [(root.join("tests/fixtures"), "tests/fixtures"), (root.join("examples"), "examples")] {
        for f in anl_files(&dir) {
            let path = Path::new(prefix).join(&f);
            if let Ok(text) = std::fs::read_to_string(root.join(&path)) {
                corpus.push((path, text));
            }
        }
    }
    assert!(corpus.len() >= 10, "too few files to mutate: {}", corpus.len());
    // ANALOGC_MUTANTS=100000 for a long run outside CI.
    let mutants = std::env::var("ANALOGC_MUTANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(MUTANTS);
    let per_file = mutants.div_ceil(corpus.len());

    let loader = Rooted::new(root.clone());
    let failures: Mutex<Vec<(PathBuf, String, String)>> = Mutex::new(vec![]);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = LAST_PANIC.lock() {
            *m = info.to_string();
        }
    }));
    let count = std::sync::atomic::AtomicUsize::new(0);
    let backend_runs = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (corpus, loader, failures, count) = (&corpus, &loader, &failures, &count);
            let backend_runs = &backend_runs;
            s.spawn(move || {
                for (k, (path, text)) in corpus.iter().enumerate().filter(|(k, _)| k % 2 == worker) {
                    let mut rng = Rng(0xA11A_0C00 + k as u64);
                    for _ in 0..per_file {
                        let mutant = mutate(text, &mut rng);
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            let fe = check_source(path, mutant.clone(), loader);
                            let _ = render::to_string(&fe.map, &fe.diags.list);
                            let _ = render::to_json_lines(&fe.map, &fe.diags.list);
                            // A file without a model (a profile library) may check clean.
                            let has_model = fe.ast.as_ref().is_some_and(|f| {
                                f.items.iter().any(|i| matches!(i, analogc::syntax::ast::Item::Model(_)))
                            });
                            assert!(
                                fe.model.is_some() || fe.diags.has_errors() || !has_model,
                                "a model came back neither checked nor with an error"
                            );
                            // What the front end accepts, the back end runs: lowered,
                            // optimized and interpreted on one sample.
                            if let Some(model) = &fe.model {
                                run_backend(model, loader);
                                backend_runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }));
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if result.is_err() {
                            let why = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
                            failures.lock().unwrap().push((path.clone(), mutant, why));
                        }
                    }
                }
            });
        }
    });
    std::panic::set_hook(default_hook);
    let n = count.into_inner();
    assert!(n >= 10_000, "only {n} mutants ran");
    let backend = backend_runs.into_inner();
    assert!(backend >= 200, "only {backend} mutants went through the back end");
    let failures = failures.into_inner().unwrap();
    if let Some((path, mutant, why)) = failures.first() {
        let out = root.join("target/mutation-failure.anl");
        let _ = std::fs::write(&out, mutant);
        panic!(
            "{} of {n} mutants panicked; the first, a mutant of {}, is in {}:\n{why}\n---\n{mutant}",
            failures.len(),
            path.display(),
            out.display()
        );
    }
}
