//! One optimizer step after another on a graph whose weights it owns:
//! forward ([`forward`](super::forward)), loss, backward
//! ([`gradient`](super::gradient)), clipping, the optimizer's update, and the
//! running statistics of batchnorms in training mode.

use super::backward::batchnorm::{update_running, Stats};
use super::compiled::LayerCode;
use super::forward::{forward, OrderedGrad, Pass};
use super::gradient::{backward, ParamGrads};
use super::kernels::first_non_finite_of;
use super::loss::softmax_cross_entropy;
use super::network::{learnable_roles, loss_node, needs_gradient};
use super::optim::{clip_grad_norm, Optimizer, State, Update};
use super::parallel;
use super::schedule::Schedule;
use super::spare::Spare;
use crate::interp::{check, Interpreter};
use crate::ir::{Graph, NodeId, NodeKind, Op};
use crate::product_table::ProductTable;
use std::sync::Arc;

/// PyTorch's default batchnorm momentum.
pub const NORM_MOMENTUM: f64 = 0.1;

/// How the steps run.
#[derive(Clone, Debug)]
pub struct Setup {
    pub optimizer: Optimizer,
    pub lr: f64,
    pub schedule: Schedule,
    /// Steps in the whole run (the schedule's horizon).
    pub total_steps: u64,
    pub clip: Option<f64>,
    pub seed: u64,
    pub threads: usize,
    pub fast: bool,
    pub ordered_grad: OrderedGrad,
    pub chip: Chip,
}

/// Which chip a step trains on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Chip {
    /// A new chip every step (trial = the step): static draws (static
    /// weight noise, random orders) are new every step, as aihwkit redraws.
    Fresh,
    /// One chip for the whole run (trial 0 of the seed): the same static
    /// draws every step. Dynamic draws stay fresh: keyed by the step and the
    /// sample, as with `Fresh`.
    Fixed,
}

/// What one step measured.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    /// The batch's mean loss.
    pub loss: f64,
    /// Samples whose largest logit was their label's.
    pub correct: usize,
    /// The learning rate of the update.
    pub lr: f64,
    /// Per node with weights: the batch's signal ([`Tape::signal`](super::forward::Tape::signal)).
    pub signal: Vec<Option<f64>>,
}

/// A batch's loss and gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    pub loss: f64,
    /// Samples whose largest logit was their label's.
    pub correct: usize,
    /// Per node, per tensor: the gradient of a learning tensor.
    pub params: ParamGrads,
    /// The batch statistics of each batchnorm in training mode.
    pub stats: Vec<Option<Stats>>,
    /// Per node with weights: the batch's signal ([`Tape::signal`](super::forward::Tape::signal)).
    pub signal: Vec<Option<f64>>,
}

/// A step that produced a value that is not finite: where, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Diverged {
    /// The step, from 0.
    pub step: u64,
    /// The first node (or `loss`) whose values went non-finite.
    pub node: String,
    pub what: String,
}

/// A graph in training.
pub struct Trainer {
    graph: Graph,
    learns: Vec<bool>,
    need: Vec<bool>,
    loss_at: NodeId,
    batch_norm: Vec<bool>,
    tables: Vec<Option<ProductTable>>,
    /// Per node, per tensor: the optimizer's state of a learning tensor.
    states: Vec<Vec<Option<State>>>,
    step: u64,
    setup: Setup,
    /// The threads of every step (`Setup::threads` of them).
    pool: Arc<rayon::ThreadPool>,
    /// Buffers of earlier steps for the next (gradients, values).
    spare: Spare,
    /// Compiled code for MAC layers with effects and denoise blocks (the fast path's).
    code: Option<Box<dyn LayerCode>>,
}

impl Trainer {
    /// Trains the tensors `learnable_roles` names of the nodes where `learns`
    /// is true. `graph` is the training graph (`network::training_graph`),
    /// `tables` its product tables (`interp::load_tables`). Fails if the graph
    /// is not one the interpreter runs.
    pub fn new(
        graph: Graph,
        learns: Vec<bool>,
        tables: Vec<Option<ProductTable>>,
        setup: Setup,
    ) -> Result<Trainer, String> {
        check(&graph)?;
        let need = needs_gradient(&graph, &learns);
        let loss_at = loss_node(&graph);
        let batch_norm = graph
            .nodes
            .iter()
            .zip(&learns)
            .map(|(n, l)| *l && matches!(n.kind, NodeKind::Op { op: Op::BatchNorm { .. }, .. }))
            .collect();
        let states = graph
            .nodes
            .iter()
            .zip(&learns)
            .map(|(n, l)| {
                n.params
                    .iter()
                    .map(|p| (*l && learnable_roles(n).contains(&p.role.as_str())).then(|| State::new(p.value.len())))
                    .collect()
            })
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(setup.threads.max(1))
            .start_handler(|_| parallel::flush_subnormals())
            .build()
            .map_err(|e| format!("cannot start {} training threads: {e}", setup.threads))?;
        let pool = Arc::new(pool);
        Ok(Trainer {
            graph,
            learns,
            need,
            loss_at,
            batch_norm,
            tables,
            states,
            step: 0,
            setup,
            pool,
            spare: Spare::default(),
            code: None,
        })
    }

    /// Runs the layers `code` runs on it in the fast path's forward.
    pub fn set_code(&mut self, code: Box<dyn LayerCode>) {
        self.code = Some(code);
    }

    /// The graph with the weights as trained so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The graph to change by hand (a gradient check moves one weight); the
    /// next pass sees the change.
    pub fn graph_mut(&mut self) -> &mut Graph {
        &mut self.graph
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The loss of a batch and its gradients with respect to every learning
    /// tensor (per node, per tensor in `params` order), on this step's chip,
    /// without changing anything: `inputs[i]` the raw values of the graph's
    /// `i`-th input, sample after sample; `labels` and `samples` (the keys of
    /// their dynamic draws) one per sample.
    pub fn gradients(&mut self, inputs: &[&[f32]], labels: &[u32], samples: &[u32]) -> Result<Gradients, Diverged> {
        self.pass(inputs, labels, samples, true)
    }

    /// The loss of a batch on this step's chip (the forward of [`gradients`](Self::gradients)).
    pub fn loss(&mut self, inputs: &[&[f32]], labels: &[u32], samples: &[u32]) -> Result<f64, Diverged> {
        self.pass(inputs, labels, samples, false).map(|g| g.loss)
    }

    fn pass(&mut self, inputs: &[&[f32]], labels: &[u32], samples: &[u32], grads: bool) -> Result<Gradients, Diverged> {
        let step = self.step;
        let diverged = |node: &str, what: String| Diverged { step, node: node.to_string(), what };
        let tables = std::mem::take(&mut self.tables);
        let interp = Interpreter::with_tables(&self.graph, tables);
        let mut chip = match self.setup.chip {
            Chip::Fresh => interp.trial(self.setup.seed, step as u32),
            Chip::Fixed => interp.trial(self.setup.seed, 0),
        };
        let chip_trial = chip.trial;
        // Dynamic draws: new for every step, also on a fixed chip.
        chip.trial = step as u32;
        let code = match &mut self.code {
            Some(code) if self.setup.fast => {
                code.prepare(&self.graph, self.setup.seed, chip_trial, chip.trial);
                Some(&**code)
            }
            _ => None,
        };
        let pass = Pass {
            graph: &self.graph,
            interp: &interp,
            chip: &chip,
            samples,
            threads: self.setup.threads,
            fast: self.setup.fast,
            batch_norm: &self.batch_norm,
            ordered_grad: self.setup.ordered_grad,
            spare: &self.spare,
            code,
        };
        let result = self.pool.install(|| {
            let tape = forward(&pass, inputs).map_err(|e| diverged(&e.node, e.what))?;
            let logits = &tape.values[self.loss_at.index()];
            let loss = softmax_cross_entropy(logits, labels);
            if !loss.loss.is_finite() {
                return Err(diverged("loss", format!("the loss is {}", loss.loss)));
            }
            let classes = logits.len() / labels.len();
            let correct = logits.chunks(classes).zip(labels).filter(|(z, l)| argmax(z) == **l as usize).count();
            let params = if grads {
                backward(&pass, &tape, &self.learns, &self.need, self.loss_at, loss.dlogits)
            } else {
                vec![]
            };
            self.spare.give(tape.values.into_iter().chain(tape.patches.into_iter().flatten()));
            Ok(Gradients { loss: loss.loss, correct, params, stats: tape.stats, signal: tape.signal })
        });
        self.tables = interp.into_tables();
        result
    }

    /// One step on a batch ([`gradients`](Self::gradients), then the update).
    /// A non-finite loss, activation or gradient changes nothing; an update
    /// that makes a weight non-finite is reported after it (training stops).
    pub fn step(&mut self, inputs: &[&[f32]], labels: &[u32], samples: &[u32]) -> Result<StepOutcome, Diverged> {
        let pool = Arc::clone(&self.pool);
        pool.install(|| parallel::hot(|| self.step_hot(inputs, labels, samples)))
    }

    /// [`step`](Self::step) on the pool with its threads spinning.
    fn step_hot(&mut self, inputs: &[&[f32]], labels: &[u32], samples: &[u32]) -> Result<StepOutcome, Diverged> {
        let step = self.step;
        let diverged = |node: &str, what: String| Diverged { step, node: node.to_string(), what };
        let Gradients { loss, correct, params: mut grads, stats, signal } = self.gradients(inputs, labels, samples)?;
        if let Some(max) = self.setup.clip {
            let mut all: Vec<&mut [f32]> = grads.iter_mut().flatten().flatten().map(|g| &mut g[..]).collect();
            clip_grad_norm(&mut all, max);
        }
        let lr = self.setup.schedule.lr(self.setup.lr, step, self.setup.total_steps.max(1));
        // Checked before any update: a diverged step changes no weight. (An
        // update that overflows is reported after it; training stops there.)
        // The tensors that learn, `(node, tensor)`, in the order they are updated.
        let (mut learning, mut updates) = (vec![], vec![]);
        for (n, ((node, node_grads), states)) in
            self.graph.nodes.iter_mut().zip(&grads).zip(&mut self.states).enumerate()
        {
            for (t, ((p, g), state)) in node.params.iter_mut().zip(node_grads).zip(states).enumerate() {
                if let (Some(grad), Some(state)) = (g, state) {
                    learning.push((n, t));
                    updates.push(Update { state, theta: &mut p.value.data, grad });
                }
            }
        }
        let tensors: Vec<&[f32]> = updates.iter().map(|u| u.grad).collect();
        if let Some((i, at)) = first_non_finite_of(&tensors) {
            let v = tensors[i][at];
            drop(updates);
            let (node, tensor) = tensor_name(&self.graph, learning[i]);
            return Err(diverged(node, format!("the gradient of `{tensor}` holds {v}")));
        }
        if let Some((i, at)) = self.setup.optimizer.step_all(lr, updates) {
            let v = self.graph.nodes[learning[i].0].params[learning[i].1].value.data[at];
            let (node, tensor) = tensor_name(&self.graph, learning[i]);
            return Err(diverged(node, format!("the update made `{tensor}` hold {v}")));
        }
        self.spare.give(grads.into_iter().flatten().flatten());
        for (node, stats) in self.graph.nodes.iter_mut().zip(&stats) {
            let Some(stats) = stats else { continue };
            let count = samples.len() * node.shape[1..].iter().product::<usize>();
            let mut mean = node.param("running_mean").expect("checked tensor").data.clone();
            let mut var = node.param("running_var").expect("checked tensor").data.clone();
            update_running(stats, count, NORM_MOMENTUM, &mut mean, &mut var);
            for p in &mut node.params {
                match p.role.as_str() {
                    "running_mean" => p.value.data.clone_from(&mean),
                    "running_var" => p.value.data.clone_from(&var),
                    _ => {}
                }
            }
        }
        self.step += 1;
        Ok(StepOutcome { loss, correct, lr, signal })
    }
}

/// The names of tensor `t` of node `n` and of the node.
fn tensor_name(graph: &Graph, (n, t): (usize, usize)) -> (&str, &str) {
    (&graph.nodes[n].name, &graph.nodes[n].params[t].name)
}

/// The index of the first largest value.
fn argmax(z: &[f32]) -> usize {
    z.iter().enumerate().fold(0, |best, (i, v)| if *v > z[best] { i } else { best })
}
