//! The loop every target runs under: one generated input per case, each from its own seed
//! (`seed`, case index), so any case is reproduced alone; a panic (caught, also in a task the
//! input started) or a check that fails is a failure, shrunk and printed; a case that runs
//! past the deadline is a hang, printed by a watchdog thread, which then ends the process
//! (a hung case cannot be taken back).

use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::gen::shown;

/// How an input is shown in a failure report.
pub type Describe<I> = Arc<dyn Fn(&I) -> String + Send + Sync>;

/// One thing to fuzz.
pub trait Target {
    /// A generated input.
    type Input: Clone + Debug + Send + 'static;
    /// The name `--target` takes.
    fn name(&self) -> &'static str;
    /// How inputs are generated.
    fn strategy(&self) -> BoxedStrategy<Self::Input>;
    /// How an input is shown (rendered bytes rather than the edits that made them).
    fn describer(&self) -> Describe<Self::Input>;
    /// Runs one input. `Err` says which promise it broke (a panic is caught by the runner).
    fn check(&mut self, input: &Self::Input) -> Result<(), String>;
    /// Targets with state (a server) start afresh every this many cases, so the state a case
    /// sees depends only on the cases since the last multiple: a reproduction starts there.
    fn fresh_every(&self) -> Option<u64> {
        None
    }
    /// Starts the state afresh.
    fn fresh(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// What the inputs reached, for the report (e.g. answers by status): evidence that the
    /// generated inputs get past the first check.
    fn reached(&self) -> String {
        String::new()
    }
}

/// A tally of outcomes by label, printed most frequent first.
#[derive(Debug, Default, Clone)]
pub struct Tally(std::collections::BTreeMap<String, u64>);

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, label: impl Into<String>) {
        *self.0.entry(label.into()).or_default() += 1;
    }

    /// `label n (p%)`, most frequent first, at most `max` of them.
    pub fn top(&self, max: usize) -> String {
        let total: u64 = self.0.values().sum();
        let mut all: Vec<_> = self.0.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        all.iter()
            .take(max)
            .map(|(label, n)| {
                format!(
                    "{label} {n} ({:.1}%)",
                    **n as f64 * 100.0 / total.max(1) as f64
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The run's seed.
    pub seed: u64,
    /// The first case index (a reproduction starts at a failing case or its state's start).
    pub from: u64,
    /// How many cases.
    pub cases: u64,
    /// A case running longer than this is a hang.
    pub deadline: Duration,
    /// Stop at the first failure rather than go on counting.
    pub stop_at_first: bool,
}

/// One failure: how to reproduce it and what it was.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The case index.
    pub case: u64,
    /// Why (the panic message or the broken promise).
    pub reason: String,
    /// The input, shrunk where shrinking kept it failing, truncated.
    pub input: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The target's name.
    pub target: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// Inputs run.
    pub inputs: u64,
    /// Wall time.
    pub wall: Duration,
    /// Failures (none expected).
    pub failures: Vec<Failure>,
    /// What the inputs reached ([`Target::reached`]).
    pub reached: String,
}

impl Summary {
    /// Inputs per second.
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The one-line figure `cargo xtask fuzz` prints per target.
    pub fn line(&self) -> String {
        format!(
            "{:<9} inputs {:>9}  wall {:>8.1} s  {:>9.0} inputs/s  failures {}",
            self.target,
            self.inputs,
            self.wall.as_secs_f64(),
            self.rate(),
            self.failures.len()
        )
    }
}

/// Panics seen in this process (any thread), and the last one's message: a panic in a task
/// an input started is a failure of that input too, though no `catch_unwind` sees it.
static PANICS: AtomicU64 = AtomicU64::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());
/// While set, panics are counted and kept rather than printed.
static QUIET: AtomicBool = AtomicBool::new(false);

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.load(Ordering::SeqCst) {
                return previous(info);
            }
            PANICS.fetch_add(1, Ordering::SeqCst);
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = format!("panic: {message}{place}");
            }
        }));
    });
}

/// The RNG of one case: its own seed, from the run's seed and the case index.
fn case_runner(seed: u64, case: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    let mut state = seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in bytes.chunks_mut(8) {
        // splitmix64: neighbouring cases get unrelated streams.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs `check` once, catching a panic here or on another thread.
fn attempt<T: Target>(target: &mut T, input: &T::Input) -> Result<(), String> {
    let before = PANICS.load(Ordering::SeqCst);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| target.check(input)));
    let panicked = PANICS.load(Ordering::SeqCst) != before;
    match outcome {
        Ok(Ok(())) if !panicked => Ok(()),
        Ok(Err(reason)) => Err(reason),
        _ => Err(LAST_PANIC
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|_| "panic".to_owned())),
    }
}

/// The command that reruns `case` with the state it had.
pub fn reproduce(name: &str, seed: u64, case: u64, fresh_every: Option<u64>) -> String {
    let from = fresh_every.map_or(case, |k| case - case % k);
    format!(
        "cargo xtask fuzz --target {name} --seed {seed} --from {from} --cases {}",
        case - from + 1
    )
}

/// What the watchdog sees of the case in progress.
struct Progress<I> {
    case: AtomicU64,
    started: Mutex<(Instant, Option<I>)>,
    done: AtomicBool,
}

/// Runs `plan` on `target`, printing each failure as it is found.
pub fn run<T: Target>(mut target: T, plan: Plan) -> anyhow::Result<Summary> {
    install_hook();
    let name = target.name();
    let strategy = target.strategy();
    let describe = target.describer();
    let fresh_every = target.fresh_every();
    let progress = Arc::new(Progress::<T::Input> {
        case: AtomicU64::new(plan.from),
        started: Mutex::new((Instant::now(), None)),
        done: AtomicBool::new(false),
    });
    let watchdog = {
        let progress = progress.clone();
        let describe = describe.clone();
        let seed = plan.seed;
        let deadline = plan.deadline;
        std::thread::spawn(move || watch(&progress, &*describe, name, seed, deadline, fresh_every))
    };
    QUIET.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut inputs = 0;
    for case in plan.from..plan.from.saturating_add(plan.cases) {
        if let Some(k) = fresh_every {
            if case % k == 0 && case != plan.from {
                // Not a case: the watchdog does not time a restart.
                idle(&progress);
                target.fresh()?;
            }
        }
        let mut runner = case_runner(plan.seed, case);
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| anyhow::anyhow!("cannot generate case {case}: {e}"))?;
        let input = tree.current();
        progress.case.store(case, Ordering::SeqCst);
        inputs += 1;
        let Err(reason) = timed(&progress, &mut target, &input) else {
            if (case + 1 - plan.from) % 100_000 == 0 {
                eprintln!(
                    "{name}: {} cases, {:.0} s",
                    case + 1 - plan.from,
                    started.elapsed().as_secs_f64()
                );
            }
            continue;
        };
        // Said before shrinking, so a shrink that hangs or dies loses nothing.
        eprintln!(
            "FAIL {name} seed {} case {case}: {reason}\n  reproduce: {}\n  input: {}",
            plan.seed,
            reproduce(name, plan.seed, case, fresh_every),
            shown(describe(&input).as_bytes(), 2000)
        );
        let (reason, input) = shrink(&progress, &mut target, &mut tree, reason, input);
        idle(&progress);
        let failure = Failure {
            case,
            reason,
            input: shown(describe(&input).as_bytes(), 2000),
        };
        eprintln!("  shrunk: {}\n  to: {}", failure.reason, failure.input);
        failures.push(failure);
        if plan.stop_at_first {
            break;
        }
    }
    let wall = started.elapsed();
    QUIET.store(false, Ordering::SeqCst);
    progress.done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    Ok(Summary {
        target: name,
        seed: plan.seed,
        inputs,
        wall,
        failures,
        reached: target.reached(),
    })
}

/// Runs one attempt under the watchdog's eye.
fn timed<T: Target>(
    progress: &Progress<T::Input>,
    target: &mut T,
    input: &T::Input,
) -> Result<(), String> {
    if let Ok(mut slot) = progress.started.lock() {
        *slot = (Instant::now(), Some(input.clone()));
    }
    let outcome = attempt(target, input);
    idle(progress);
    outcome
}

/// Tells the watchdog no case is running.
fn idle<I>(progress: &Progress<I>) {
    if let Ok(mut slot) = progress.started.lock() {
        *slot = (Instant::now(), None);
    }
}

/// The simplest input the tree reaches that still fails, with its reason (bounded work: a
/// few hundred steps).
fn shrink<T: Target>(
    progress: &Progress<T::Input>,
    target: &mut T,
    tree: &mut impl ValueTree<Value = T::Input>,
    mut reason: String,
    mut input: T::Input,
) -> (String, T::Input) {
    for _ in 0..300 {
        if !tree.simplify() {
            break;
        }
        loop {
            let candidate = tree.current();
            match timed(progress, target, &candidate) {
                Err(why) => {
                    reason = why;
                    input = candidate;
                    break;
                }
                Ok(()) => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    (reason, input)
}

/// The watchdog: ends the process when one case outlives the deadline.
fn watch<I>(
    progress: &Progress<I>,
    describe: &(dyn Fn(&I) -> String + Send + Sync),
    name: &str,
    seed: u64,
    deadline: Duration,
    fresh_every: Option<u64>,
) {
    let tick = (deadline / 8).max(Duration::from_millis(10));
    while !progress.done.load(Ordering::SeqCst) {
        std::thread::park_timeout(tick);
        let case = progress.case.load(Ordering::SeqCst);
        let Ok(slot) = progress.started.lock() else {
            continue;
        };
        let Some(input) = slot.1.as_ref() else {
            continue;
        };
        if slot.0.elapsed() > deadline && !progress.done.load(Ordering::SeqCst) {
            let input = describe(input);
            eprintln!(
                "FAIL {name} seed {seed} case {case}: hang (no answer within {deadline:?})\n  \
                 reproduce: {}\n  input: {}",
                reproduce(name, seed, case, fresh_every),
                shown(input.as_bytes(), 2000)
            );
            std::process::exit(3);
        }
    }
}
