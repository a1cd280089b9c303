//! The training loop behind [`train`](super::train): options checked, layers
//! chosen, data split, epochs of shuffled batches on the runtime's
//! [`Trainer`], validation after each epoch; with DNF, the hardware's error
//! measured before the first epoch and every `refresh` epochs.

use super::dnf::Finetuning;
use super::{EpochRecord, LayerRecord, TrainOptions, TrainReport, Weights};
use crate::control::Control;
use crate::data::open_training;
use crate::diag::{Code, Diagnostic};
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::evaluate::correct;
use crate::jit::JitLayers;
use crate::model::{engine_for, Model};
use analog_runtime::dataset::{epoch_order, hold_out, Dataset};
use analog_runtime::files;
use analog_runtime::interp::load_tables;
use analog_runtime::ir::{Graph, NodeKind, Op};
use analog_runtime::train::network::training_graph;
use analog_runtime::train::trainer::{Diverged, Setup, Trainer};
use std::time::Instant;

pub(super) fn run(
    model: &Model,
    data: Option<&str>,
    options: &TrainOptions,
    control: Control,
    on_epoch: &mut dyn FnMut(&EpochRecord, &Weights) -> Result<()>,
) -> Result<TrainReport> {
    options.check()?;
    options.check_model(model)?;
    let started = Instant::now();
    let trained_layers = options.trained_layers(model)?;
    let base = model.unoptimized()?;
    let mut graph = base.graph().clone();
    let learns: Vec<bool> = graph.nodes.iter().map(|n| trained_layers.contains(&n.name)).collect();
    super::init::initialize(&mut graph, options.init, options.seed, &learns);
    let (dir, set) = open_training(model, data)?;
    let (train_range, val_range) =
        hold_out(set.len(), options.val).map_err(|e| Error::user(Code::BadTrainOption, e))?;
    let train_n = options.limit.map_or(train_range.len(), |l| l.min(train_range.len()));
    let val = set.slice(val_range);
    let steps_per_epoch = train_n.div_ceil(options.batch) as u64;
    check_batch_statistics(&graph, &learns, train_n, options.batch)?;
    let tables =
        load_tables(&graph, |p| files::read(p, files::TABLE)).map_err(|e| Error::user(Code::FileUnreadable, e))?;
    let setup = Setup {
        optimizer: options.optimizer,
        lr: options.lr,
        schedule: options.schedule,
        total_steps: steps_per_epoch * options.epochs as u64,
        clip: options.clip,
        seed: options.seed,
        threads: options.threads,
        fast: options.backend == Backend::Jit,
        ordered_grad: options.ordered_grad,
        chip: options.chip,
    };
    let mut finetuning = options.dnf.map(|d| Finetuning::new(d, train_n));
    let mut training = training_graph(&graph);
    if let Some(f) = &mut finetuning {
        f.measure(&graph, &mut training, &set, 0, options, control)?;
    }
    let mut trainer = Trainer::new(training, learns.clone(), tables, setup).map_err(Error::Internal)?;
    if options.backend == Backend::Jit {
        let code = JitLayers::compile(trainer.graph(), options.kernels).map_err(Error::Internal)?;
        if !code.is_empty() {
            trainer.set_code(Box::new(code));
        }
    }
    control.progress.start(train_n as u64 * options.epochs as u64);
    let (mut epochs, mut step_losses) = (vec![], vec![]);
    for epoch in 0..options.epochs {
        let epoch_started = Instant::now();
        if let Some(f) = finetuning.as_mut().filter(|f| epoch > 0 && f.due(epoch)) {
            let trained = with_weights(&graph, trainer.graph());
            f.measure(&trained, trainer.graph_mut(), &set, epoch, options, control)?;
        }
        control.progress.stage(&format!("epoch {}/{}", epoch + 1, options.epochs));
        // The steps' own rate: DNF's measurement before them and the
        // validation after them count in the epoch's time, not in it.
        let steps_started = Instant::now();
        let order = epoch_order(train_n, options.seed, epoch);
        let (mut loss_sum, mut hits, mut lr) = (0.0f64, 0usize, options.lr);
        let mut signal = vec![0.0f64; graph.nodes.len()];
        // A batch's images, copied a sample at a time into the same buffer every step.
        let mut images: Vec<f32> = Vec::new();
        for (s, batch) in order.chunks(options.batch).enumerate() {
            if control.cancelled() {
                return Err(Error::interrupted(format!(
                    "in epoch {} of {} (the last complete epoch's results stay as written)",
                    epoch + 1,
                    options.epochs
                )));
            }
            images.clear();
            batch.iter().for_each(|i| images.extend_from_slice(set.sample(*i as usize)));
            let labels: Vec<u32> = batch.iter().map(|i| set.labels[*i as usize]).collect();
            let out = trainer.step(&[&images], &labels, batch).map_err(|d| diverged(&d, epoch + 1, s as u64 + 1))?;
            step_losses.push(out.loss);
            loss_sum += out.loss * batch.len() as f64;
            hits += out.correct;
            lr = out.lr;
            for (sum, s) in signal.iter_mut().zip(&out.signal) {
                *sum += s.unwrap_or(0.0);
            }
            control.progress.advance(batch.len() as u64);
        }
        let train_seconds = steps_started.elapsed().as_secs_f64();
        let trained = with_weights(&graph, trainer.graph());
        let (clean, hardware) = validate(&trained, &val, options, control)?;
        let record = EpochRecord {
            epoch: epoch + 1,
            loss: loss_sum / train_n as f64,
            train_accuracy: hits as f64 / train_n as f64,
            val_accuracy_clean: clean,
            val_accuracy_hardware: hardware,
            lr,
            seconds: epoch_started.elapsed().as_secs_f64(),
            samples_per_second: train_n as f64 / train_seconds,
            layers: layer_records(&trained, &signal, train_n),
        };
        on_epoch(&record, &weights(&trained))?;
        epochs.push(record);
    }
    Ok(TrainReport {
        model: model.name().to_string(),
        data: dir.display().to_string(),
        train_samples: train_n,
        val_samples: val.len(),
        trained: trained_layers,
        parameters: graph
            .nodes
            .iter()
            .zip(&learns)
            .filter(|(_, l)| **l)
            .flat_map(|(n, _)| {
                let roles = analog_runtime::train::network::learnable_roles(n);
                n.params.iter().filter(move |p| roles.contains(&p.role.as_str())).map(|p| p.value.len())
            })
            .sum(),
        init: options.init,
        seed: options.seed,
        batch: options.batch,
        epochs,
        step_losses,
        seconds: started.elapsed().as_secs_f64(),
        backend: options.backend.name(),
        dnf: finetuning.map(Finetuning::report),
    })
}

/// A batchnorm that learns normalizes each channel over the batch; where a
/// sample holds one value per channel (`[c]`, `[c, 1]`, `[c, 1, 1]`) a batch of one
/// sample has no variance (PyTorch refuses it too).
fn check_batch_statistics(graph: &Graph, learns: &[bool], n: usize, batch: usize) -> Result<()> {
    let smallest = if n.is_multiple_of(batch) { batch.min(n) } else { n % batch };
    let vector_norm = graph.nodes.iter().zip(learns).find(|(node, learns)| {
        **learns
            && node.shape[1..].iter().product::<usize>() == 1
            && matches!(node.kind, NodeKind::Op { op: Op::BatchNorm { .. }, .. })
    });
    match vector_norm {
        Some((node, _)) if smallest < 2 => Err(Error::user(
            Code::BadTrainOption,
            format!(
                "batchnorm `{}` learns from batch statistics, one value per sample and channel, but {n} \
                 training samples in batches of {batch} leave a batch of one sample; change --batch or --limit",
                node.name
            ),
        )),
        _ => Ok(()),
    }
}

/// `base` with the tensors of `trained` (the same nodes in the same order).
fn with_weights(base: &Graph, trained: &Graph) -> Graph {
    let mut g = base.clone();
    for (node, t) in g.nodes.iter_mut().zip(&trained.nodes) {
        for (p, tp) in node.params.iter_mut().zip(&t.params) {
            p.value.data.clone_from(&tp.value.data);
        }
        node.prepared = None;
    }
    g
}

/// Every node with weights: the norm of its weight tensors, and its epoch's
/// activation RMS from `signal` (per node, the sum over the epoch's `n`
/// samples of each one's mean square output, [`Tape::signal`]).
///
/// [`Tape::signal`]: analog_runtime::train::forward::Tape::signal
fn layer_records(graph: &Graph, signal: &[f64], n: usize) -> Vec<LayerRecord> {
    graph
        .nodes
        .iter()
        .zip(signal)
        .filter(|(node, _)| !node.params.is_empty())
        .map(|(node, s)| {
            let weights = node.params.iter().filter(|p| p.role.ends_with("weight"));
            let squares: f64 = weights.flat_map(|p| &p.value.data).map(|v| f64::from(*v) * f64::from(*v)).sum();
            LayerRecord { layer: node.name.clone(), weight_norm: squares.sqrt(), activation_rms: (s / n as f64).sqrt() }
        })
        .collect()
}

/// Every tensor of `graph` under its name in the weights file.
fn weights(graph: &Graph) -> Weights {
    let mut out: Weights = vec![];
    for p in graph.nodes.iter().flat_map(|n| &n.params) {
        if !out.iter().any(|(name, _)| *name == p.name) {
            out.push((p.name.clone(), p.value.clone()));
        }
    }
    out
}

/// Validation accuracy of `graph`: clean, and with its evaluation hardware on one chip.
fn validate(graph: &Graph, val: &Dataset, o: &TrainOptions, control: Control) -> Result<(f64, f64)> {
    let quiet = control.quiet();
    let accuracy = |g: &Graph| -> Result<f64> {
        let engine = engine_for(g, o.backend, o.kernels)?;
        let hits = correct(&engine, &engine.chip(o.seed, 0), val, val.len(), o.threads, 64, quiet)
            .ok_or_else(|| Error::interrupted("while validating"))?;
        Ok(hits as f64 / val.len() as f64)
    };
    Ok((accuracy(&graph.without_noise())?, accuracy(graph)?))
}

/// The diagnostic of a step that went non-finite.
fn diverged(d: &Diverged, epoch: u32, step: u64) -> Error {
    let where_ = if d.node == "loss" { "the loss".to_string() } else { format!("layer `{}`", d.node) };
    let message = format!("training diverged in epoch {epoch}, step {step}: {where_} went non-finite");
    let diag = Diagnostic::error(Code::Diverged, message)
        .note(d.what.clone())
        .help("lower the learning rate (--lr), clip the gradient (--clip), or check the data's scale");
    Error::User { sources: Box::default(), diagnostics: vec![diag] }
}
