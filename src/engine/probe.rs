//! Probes: analyses that run beside a training run.
//!
//! A [`Probe`] watches every step of a [`Session`] (after the step's record is made; it may
//! take extra derivatives on its own f64 copy of the network, see
//! [`Session::evaluator_f64`]) and reports what it finds as typed [`ProbeUpdate`]s. It also
//! says which files it writes into a run folder ([`ProbeFiles`]) and what it found
//! ([`ProbeReport`]: the JSON summary, a text for a terminal, the figures).
//!
//! One [`ProbeConfig`] enum names every probe and its options; [`ProbeConfig::build`] makes
//! the probe. One adapter, [`ProbeObserver`], puts probes on the runner's [`Observer`] seam
//! and hands what they report to a [`ProbeSink`]: the app's training worker sends the updates
//! over its channel (`worker::Event::Probe`), the CLI's [`FolderSink`] streams each probe's
//! CSV into the run folder and writes its summary when the run ends. The CLI's flags map onto
//! configs in one place, [`probes_from_flags`].
//!
//! Adding a probe (e.g. the central flow): a variant in [`ProbeConfig`], [`ProbeUpdate`] and
//! [`ProbeReport`], one arm in each of their `match`es below, a type implementing [`Probe`],
//! and its flags in [`ProbeFlags`] / [`probes_from_flags`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::Precision;
use super::central_flow::{
    CentralFlowError, CentralFlowLog, CentralFlowProbe, CentralFlowProbeOptions, CentralFlowReport,
    CentralFlowUpdate,
};
use super::config::{Optimizer, RunConfig};
use super::error::EngineError;
use super::export::{CsvWriter, write_json};
use super::plot::PlotSpec;
use super::session::{Observer, Session, StepRecord, StopReason};
use super::theory::TheoryError;
use super::theory::measured::{
    TheoryOptions, TheoryProbe, TheoryReport, TheoryUpdate, theory_plots,
};

/// Why a probe could not be configured, built or stepped.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Theory(#[from] TheoryError),
    #[error(transparent)]
    CentralFlow(#[from] CentralFlowError),
    /// Central-flow options that break a rule.
    #[error("{probe} options: {error}")]
    FlowOptions {
        probe: &'static str,
        error: CentralFlowError,
    },
    /// The run's η changed; the probe models one η.
    #[error(
        "the learning rate changed from {from} to {to}; the {probe} models one η (switch it off and on to restart it)"
    )]
    LrChanged {
        probe: &'static str,
        from: f64,
        to: f64,
    },
    /// Options of a probe that break a rule (the rule is part of the message, not a cause of
    /// its own, so it is printed once).
    #[error("{probe} options: {error}")]
    Options {
        probe: &'static str,
        error: TheoryError,
    },
    /// An option that only makes sense with a probe that is off.
    #[error("{options} need {probe}")]
    OptionWithoutProbe {
        options: &'static str,
        probe: &'static str,
    },
    /// The probe models plain gradient descent.
    #[error("{probe} models plain gradient descent (threshold 2/η); the optimizer is {optimizer}")]
    NeedsGradientDescent {
        probe: &'static str,
        optimizer: String,
    },
}

/// Which probe, with its options.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeConfig {
    /// Damian et al. 2022's α, β, x_t, y_t measured along the run from the first crossing of
    /// 2/η, with their self-stabilization map stepped alongside
    /// ([`crate::engine::theory::measured`]).
    MeasuredTheory(TheoryOptions),
    /// Cohen et al. 2025's central flow and a gradient flow from the run's θ₀, stepped once
    /// per GD step ([`crate::engine::central_flow::probe`]).
    CentralFlow(CentralFlowProbeOptions),
}

/// One message from a probe (the app's worker sends these as events).
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeUpdate {
    /// From [`ProbeConfig::MeasuredTheory`]; `TheoryLog::apply` collects them.
    MeasuredTheory(TheoryUpdate),
    /// From [`ProbeConfig::CentralFlow`]; `CentralFlowLog::apply` collects them.
    CentralFlow(CentralFlowUpdate),
}

/// What a probe found (at the end of a run, or so far).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProbeReport {
    /// `theory_summary.json`.
    MeasuredTheory(Box<TheoryReport>),
    /// `central_flow_summary.json`.
    CentralFlow(Box<CentralFlowReport>),
}

/// A CSV file a probe streams into the run folder, one row per [`ProbeUpdate::csv_row`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvFile {
    pub name: &'static str,
    pub columns: Vec<String>,
}

/// The files a probe writes into a run folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeFiles {
    /// Written row by row while the run goes.
    pub csv: Option<CsvFile>,
    /// The JSON summary ([`ProbeReport`]), written when the run ends.
    pub summary: Option<&'static str>,
}

impl ProbeFiles {
    /// The file names, in the order they are listed to users.
    pub fn names(&self) -> Vec<&'static str> {
        self.csv
            .iter()
            .map(|c| c.name)
            .chain(self.summary)
            .collect()
    }
}

/// An analysis beside a training run (module docs).
pub trait Probe: Send {
    /// Look at step `record.step` (θ_t is [`Session::params_f64`]); push what was found to
    /// `out`. An error switches the probe off (the run goes on).
    fn observe(
        &mut self,
        session: &Session,
        record: &StepRecord,
        out: &mut Vec<ProbeUpdate>,
    ) -> Result<(), ProbeError>;
    /// True once it has nothing more to observe (it is no longer called).
    fn is_done(&self) -> bool;
    /// The files it writes into a run folder.
    fn files(&self) -> ProbeFiles;
    /// What it found so far.
    fn report(&self) -> ProbeReport;
}

impl ProbeConfig {
    /// The probe for `session`, with its own f64 copy of the network and training set.
    pub fn build(&self, session: &Session) -> Result<Box<dyn Probe>, ProbeError> {
        Ok(match self {
            ProbeConfig::MeasuredTheory(o) => Box::new(TheoryProbe::new(session, o.clone())?),
            ProbeConfig::CentralFlow(o) => {
                if session.config().optimizer != Optimizer::Gd {
                    return Err(ProbeError::NeedsGradientDescent {
                        probe: "the central flow",
                        optimizer: session.config().optimizer.name().to_string(),
                    });
                }
                Box::new(CentralFlowProbe::new(session, o.clone())?)
            }
        })
    }

    /// The update that tells a listener a fresh probe starts watching at `step` (it forgets
    /// what the probe reported before).
    pub fn started(&self, step: usize) -> ProbeUpdate {
        match self {
            ProbeConfig::MeasuredTheory(_) => {
                ProbeUpdate::MeasuredTheory(TheoryUpdate::Started { step })
            }
            ProbeConfig::CentralFlow(_) => {
                ProbeUpdate::CentralFlow(CentralFlowUpdate::Started { step })
            }
        }
    }

    /// The update that says the probe failed and was switched off.
    pub fn failed(&self, message: String) -> ProbeUpdate {
        match self {
            ProbeConfig::MeasuredTheory(_) => {
                ProbeUpdate::MeasuredTheory(TheoryUpdate::Failed(message))
            }
            ProbeConfig::CentralFlow(_) => {
                ProbeUpdate::CentralFlow(CentralFlowUpdate::Failed(message))
            }
        }
    }

    /// What the probe is called in messages.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeConfig::MeasuredTheory(_) => "theory tracker",
            ProbeConfig::CentralFlow(_) => "central flow",
        }
    }
}

impl ProbeUpdate {
    /// The row this update adds to its probe's CSV file, if any.
    pub fn csv_row(&self) -> Option<Vec<Option<f64>>> {
        match self {
            ProbeUpdate::MeasuredTheory(TheoryUpdate::Row(r)) => Some(r.cells()),
            ProbeUpdate::MeasuredTheory(_) => None,
            ProbeUpdate::CentralFlow(CentralFlowUpdate::Row(r)) => Some(r.cells()),
            ProbeUpdate::CentralFlow(_) => None,
        }
    }
}

impl ProbeReport {
    /// A few lines for a terminal.
    pub fn describe(&self) -> String {
        match self {
            ProbeReport::MeasuredTheory(r) => r.describe(),
            ProbeReport::CentralFlow(r) => r.describe(),
        }
    }

    /// The figures of `run --plot`, each with the suffix of its file name
    /// (`FILE_<suffix>.svg`); none when there is nothing to draw. The central flow's figures
    /// are the Training workspace's (its layers on the loss and sharpness figures, the distance
    /// and σ² figures): `run --plot` draws them from [`ProbeReport::central_flow_log`] through
    /// `figure::training`, as the screen does, so none are listed here.
    pub fn figures(&self, title: &str) -> Vec<(&'static str, PlotSpec)> {
        match self {
            ProbeReport::MeasuredTheory(r) if r.rows.is_empty() => Vec::new(),
            ProbeReport::MeasuredTheory(r) => ["theory", "theory_x"]
                .into_iter()
                .zip(theory_plots(r, title))
                .collect(),
            ProbeReport::CentralFlow(_) => Vec::new(),
        }
    }

    /// The central flow's rows and link as the app holds them (for the training figures).
    pub fn central_flow_log(&self) -> Option<CentralFlowLog> {
        match self {
            ProbeReport::CentralFlow(r) => Some(CentralFlowLog {
                started: true,
                started_at: r.rows.first().map_or(0, |x| x.step),
                rows: r.rows.clone(),
                link: r.damian_link.clone(),
                error: r.error.clone(),
            }),
            ProbeReport::MeasuredTheory(_) => None,
        }
    }
}

/// The CLI's probe flags (`run --theory [--theory-steps N] [--theory-reanchor K]
/// [--theory-eps E] [--theory-probe-precision f32|f64]`, `run --central-flow [--cf-substeps N] [--cf-lanczos-tol T]
/// [--cf-max-tracked K]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeFlags {
    pub theory: bool,
    pub theory_steps: Option<usize>,
    pub theory_reanchor: Option<usize>,
    pub theory_eps: Option<f64>,
    pub theory_probe_precision: Option<Precision>,
    pub central_flow: bool,
    pub cf_substeps: Option<usize>,
    pub cf_lanczos_tol: Option<f64>,
    pub cf_max_tracked: Option<usize>,
    /// Start from [`CentralFlowProbeOptions::live`] (the app's options) instead of the defaults.
    pub cf_live: bool,
}

/// The probes the flags ask for, checked against the run's configuration (the one place the
/// CLI's flags become [`ProbeConfig`]s).
pub fn probes_from_flags(
    flags: &ProbeFlags,
    config: &RunConfig,
) -> Result<Vec<ProbeConfig>, ProbeError> {
    let mut probes = Vec::new();
    if !flags.theory
        && (flags.theory_steps.is_some()
            || flags.theory_reanchor.is_some()
            || flags.theory_eps.is_some()
            || flags.theory_probe_precision.is_some())
    {
        return Err(ProbeError::OptionWithoutProbe {
            options: "--theory-steps, --theory-reanchor, --theory-eps and --theory-probe-precision",
            probe: "--theory",
        });
    }
    if flags.theory {
        if config.optimizer != Optimizer::Gd {
            return Err(ProbeError::NeedsGradientDescent {
                probe: "--theory",
                optimizer: config.optimizer.name().to_string(),
            });
        }
        let defaults = TheoryOptions::default();
        let opts = TheoryOptions {
            seed: config.seed,
            window: flags.theory_steps.unwrap_or(defaults.window),
            reanchor_every: flags.theory_reanchor.unwrap_or(defaults.reanchor_every),
            eps: flags.theory_eps,
            probe_precision: flags
                .theory_probe_precision
                .unwrap_or(defaults.probe_precision),
            ..defaults
        };
        opts.check().map_err(|error| ProbeError::Options {
            probe: "--theory",
            error,
        })?;
        probes.push(ProbeConfig::MeasuredTheory(opts));
    }
    if !flags.central_flow
        && (flags.cf_substeps.is_some()
            || flags.cf_lanczos_tol.is_some()
            || flags.cf_max_tracked.is_some()
            || flags.cf_live)
    {
        return Err(ProbeError::OptionWithoutProbe {
            options: "--cf-substeps, --cf-lanczos-tol, --cf-max-tracked and --cf-live",
            probe: "--central-flow",
        });
    }
    if flags.central_flow {
        if config.optimizer != Optimizer::Gd {
            return Err(ProbeError::NeedsGradientDescent {
                probe: "--central-flow",
                optimizer: config.optimizer.name().to_string(),
            });
        }
        let defaults = if flags.cf_live {
            CentralFlowProbeOptions::live()
        } else {
            CentralFlowProbeOptions::default()
        };
        let opts = CentralFlowProbeOptions {
            substeps: flags.cf_substeps.unwrap_or(defaults.substeps),
            lanczos_tol: flags.cf_lanczos_tol.unwrap_or(defaults.lanczos_tol),
            max_tracked: flags.cf_max_tracked.unwrap_or(defaults.max_tracked),
            ..defaults
        };
        opts.flow_options(config.lr, config.seed)
            .map_err(|error| ProbeError::FlowOptions {
                probe: "--central-flow",
                error,
            })?;
        probes.push(ProbeConfig::CentralFlow(opts));
    }
    Ok(probes)
}

/// Where a [`ProbeObserver`] delivers what its probes report.
pub trait ProbeSink: Send {
    /// Probe number `probe` (its index in the configs) will write `files`; called once per
    /// probe that was built, before the run's first step.
    fn open(&mut self, _probe: usize, _files: &ProbeFiles) -> Result<(), EngineError> {
        Ok(())
    }
    /// Probe number `probe` reported `update`.
    fn update(&mut self, probe: usize, update: ProbeUpdate) -> Result<(), EngineError>;
    /// All updates of one step have been delivered (called only when there were some).
    fn flush(&mut self) -> Result<(), EngineError> {
        Ok(())
    }
    /// The run ended: what each probe that was built found.
    fn finish(&mut self, _results: Vec<ProbeResult>) -> Result<(), EngineError> {
        Ok(())
    }
}

/// What a probe left when the run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeResult {
    /// Index of the probe in the configs.
    pub probe: usize,
    pub files: ProbeFiles,
    pub report: ProbeReport,
    /// Why it stopped early, if it failed (its report holds what it had until then).
    pub failed: Option<String>,
}

struct Slot {
    config: ProbeConfig,
    probe: Result<Box<dyn Probe>, String>,
    started: bool,
    failed: Option<String>,
}

/// The one adapter from probes to the runner's [`Observer`] seam (module docs).
pub struct ProbeObserver<S: ProbeSink> {
    slots: Vec<Slot>,
    sink: S,
}

impl<S: ProbeSink> ProbeObserver<S> {
    /// Build every probe for `session` now. A probe that cannot be built is reported to the
    /// sink as failed at the first step (the run goes on without it).
    pub fn new(
        session: &Session,
        configs: &[ProbeConfig],
        mut sink: S,
    ) -> Result<Self, EngineError> {
        let mut slots = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let probe = c.build(session).map_err(|e| e.to_string());
            if let Ok(p) = &probe {
                sink.open(i, &p.files())?;
            }
            slots.push(Slot {
                config: c.clone(),
                probe,
                started: false,
                failed: None,
            });
        }
        Ok(ProbeObserver { slots, sink })
    }

    /// The sink (e.g. to read what a [`FolderSink`] collected).
    pub fn sink(&self) -> &S {
        &self.sink
    }
}

impl<S: ProbeSink> Observer for ProbeObserver<S> {
    fn observe(&mut self, session: &Session, record: &StepRecord) -> Result<(), EngineError> {
        // The run is being stopped, reset or replaced: no probe starts long work on this step.
        if session.interrupted() {
            return Ok(());
        }
        let mut any = false;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let mut out = Vec::new();
            if !slot.started {
                slot.started = true;
                match &slot.probe {
                    Ok(_) => out.push(slot.config.started(record.step)),
                    Err(e) => out.push(slot.config.failed(e.clone())),
                }
            }
            if let Ok(p) = &mut slot.probe
                && slot.failed.is_none()
                && !p.is_done()
            {
                let mut found = Vec::new();
                match p.observe(session, record, &mut found) {
                    Ok(()) => out.append(&mut found),
                    Err(e) => {
                        let message = format!(
                            "the {} stopped at step {}: {e}",
                            slot.config.name(),
                            record.step
                        );
                        slot.failed = Some(message.clone());
                        out.push(slot.config.failed(message));
                    }
                }
            }
            for u in out {
                any = true;
                self.sink.update(i, u)?;
            }
        }
        if any {
            self.sink.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self, _session: &Session, _reason: &StopReason) -> Result<(), EngineError> {
        let results = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let p = s.probe.as_ref().ok()?;
                Some(ProbeResult {
                    probe: i,
                    files: p.files(),
                    report: p.report(),
                    failed: s.failed.clone(),
                })
            })
            .collect();
        self.sink.finish(results)
    }
}

/// Where a [`FolderSink`] leaves the probes' results when the run ends.
pub type SharedResults = Arc<Mutex<Vec<ProbeResult>>>;

/// Writes each probe's files into a run folder: its CSV row by row, its JSON summary when the
/// run ends; then leaves the results in a shared slot (the CLI prints and plots them).
pub struct FolderSink {
    dir: PathBuf,
    csv: Vec<(usize, CsvWriter)>,
    results: SharedResults,
}

impl FolderSink {
    /// A sink writing into `dir` (which must exist), and the slot for the results.
    pub fn new(dir: &Path) -> (Self, SharedResults) {
        let results: SharedResults = Default::default();
        (
            FolderSink {
                dir: dir.to_path_buf(),
                csv: Vec::new(),
                results: results.clone(),
            },
            results,
        )
    }
}

impl ProbeSink for FolderSink {
    fn open(&mut self, probe: usize, files: &ProbeFiles) -> Result<(), EngineError> {
        if let Some(c) = &files.csv {
            let w = CsvWriter::create(&self.dir.join(c.name), &c.columns)?;
            self.csv.push((probe, w));
        }
        Ok(())
    }

    fn update(&mut self, probe: usize, update: ProbeUpdate) -> Result<(), EngineError> {
        if let Some(row) = update.csv_row()
            && let Some((_, w)) = self.csv.iter_mut().find(|(i, _)| *i == probe)
        {
            w.row(&row)?;
        }
        Ok(())
    }

    fn finish(&mut self, results: Vec<ProbeResult>) -> Result<(), EngineError> {
        // The tables are complete when the run ends (not when the runner is dropped).
        for (_, w) in self.csv.drain(..) {
            w.finish()?;
        }
        for r in &results {
            if let Some(name) = r.files.summary {
                write_json(&self.dir.join(name), &r.report)?;
            }
        }
        let mut slot = self.results.lock().map_err(|_| {
            EngineError::Other("the probes' results could not be handed over".into())
        })?;
        *slot = results;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::data::DatasetSpec;
    use crate::engine::session::{Cadence, Runner};
    use crate::engine::theory::measured::TheoryUpdate;

    #[test]
    fn flags_map_onto_probe_configs_in_one_place() {
        let cfg = RunConfig {
            seed: 7,
            ..RunConfig::default()
        };
        let none = probes_from_flags(&ProbeFlags::default(), &cfg);
        assert!(none.is_ok_and(|p| p.is_empty()));
        let flags = ProbeFlags {
            theory: true,
            theory_steps: Some(15),
            theory_reanchor: Some(4),
            theory_eps: Some(1e-4),
            ..ProbeFlags::default()
        };
        let Ok(p) = probes_from_flags(&flags, &cfg) else {
            panic!("valid flags refused")
        };
        let want = TheoryOptions {
            window: 15,
            reanchor_every: 4,
            eps: Some(1e-4),
            seed: 7,
            ..TheoryOptions::default()
        };
        assert_eq!(p, vec![ProbeConfig::MeasuredTheory(want)]);

        let msg = |flags: &ProbeFlags, cfg: &RunConfig| {
            probes_from_flags(flags, cfg).err().map(|e| e.to_string())
        };
        let orphan = ProbeFlags {
            theory: false,
            ..flags.clone()
        };
        assert_eq!(
            msg(&orphan, &cfg).as_deref(),
            Some(
                "--theory-steps, --theory-reanchor, --theory-eps and --theory-probe-precision need --theory"
            )
        );
        // The probes' precision: f32 unless asked for f64.
        let f64_probes = ProbeFlags {
            theory_probe_precision: Some(Precision::F64),
            ..flags.clone()
        };
        assert!(matches!(
            &probes_from_flags(&f64_probes, &cfg).ok().as_deref(),
            Some([ProbeConfig::MeasuredTheory(o)]) if o.probe_precision == Precision::F64
        ));
        let zero = ProbeFlags {
            theory_steps: Some(0),
            ..flags.clone()
        };
        assert_eq!(
            msg(&zero, &cfg).as_deref(),
            Some("--theory options: invalid parameter `window` = 0: track at least 1 step")
        );
        let polyak = RunConfig {
            optimizer: Optimizer::Polyak { beta: 0.9 },
            ..cfg.clone()
        };
        assert!(msg(&flags, &polyak).is_some_and(|m| m.contains("plain gradient descent")));

        // The central flow: 4 substeps by default, validated, refused without its flag.
        let cf = ProbeFlags {
            central_flow: true,
            ..ProbeFlags::default()
        };
        let Ok(p) = probes_from_flags(&cf, &cfg) else {
            panic!("--central-flow refused")
        };
        assert!(matches!(&p[..], [ProbeConfig::CentralFlow(o)] if o.substeps == 4));
        let eight = ProbeFlags {
            cf_substeps: Some(8),
            ..cf.clone()
        };
        let Ok(p) = probes_from_flags(&eight, &cfg) else {
            panic!("--cf-substeps 8 refused")
        };
        assert!(matches!(&p[..], [ProbeConfig::CentralFlow(o)] if o.substeps == 8));
        let zero = ProbeFlags {
            cf_substeps: Some(0),
            ..cf.clone()
        };
        assert!(msg(&zero, &cfg).is_some_and(
            |m| m.starts_with("--central-flow options: ") && m.contains("`substeps` = 0")
        ));
        let orphan = ProbeFlags {
            cf_substeps: Some(2),
            ..ProbeFlags::default()
        };
        assert_eq!(
            msg(&orphan, &cfg).as_deref(),
            Some(
                "--cf-substeps, --cf-lanczos-tol, --cf-max-tracked and --cf-live need --central-flow"
            )
        );
        assert!(msg(&cf, &polyak).is_some_and(|m| m.contains("plain gradient descent")));
        // --cf-live starts from the app's options; an explicit flag still overrides them.
        let live = ProbeFlags {
            cf_live: true,
            cf_substeps: Some(3),
            ..cf.clone()
        };
        let Ok(p) = probes_from_flags(&live, &cfg) else {
            panic!("--cf-live refused")
        };
        let want = crate::engine::central_flow::CentralFlowProbeOptions {
            substeps: 3,
            ..crate::engine::central_flow::CentralFlowProbeOptions::live()
        };
        assert!(matches!(&p[..], [ProbeConfig::CentralFlow(o)] if *o == want));
        assert_ne!(
            crate::engine::central_flow::CentralFlowProbeOptions::live(),
            crate::engine::central_flow::CentralFlowProbeOptions::default()
        );
    }

    /// Records what the adapter delivers.
    #[derive(Default)]
    struct Recorder {
        opened: Vec<usize>,
        updates: Arc<Mutex<Vec<(usize, ProbeUpdate)>>>,
        results: Shared,
    }
    type Shared = Arc<Mutex<Vec<ProbeResult>>>;

    impl ProbeSink for Recorder {
        fn open(&mut self, probe: usize, _files: &ProbeFiles) -> Result<(), EngineError> {
            self.opened.push(probe);
            Ok(())
        }
        fn update(&mut self, probe: usize, update: ProbeUpdate) -> Result<(), EngineError> {
            if let Ok(mut g) = self.updates.lock() {
                g.push((probe, update));
            }
            Ok(())
        }
        fn finish(&mut self, results: Vec<ProbeResult>) -> Result<(), EngineError> {
            if let Ok(mut g) = self.results.lock() {
                *g = results;
            }
            Ok(())
        }
    }

    /// A probe that cannot be built is reported failed at the first step and the run goes on;
    /// a working one starts at that step and leaves its report at the end.
    #[test]
    fn the_adapter_starts_reports_and_isolates_a_failed_probe() {
        let cfg = RunConfig {
            dataset: DatasetSpec::Digits {
                n_train: 40,
                n_test: 0,
            },
            hidden: vec![4],
            max_steps: 3,
            eig_every: 1,
            threads: 1,
            ..RunConfig::default()
        };
        let Ok((session, _)) = Session::from_config(&cfg) else {
            panic!("session")
        };
        let bad = ProbeConfig::MeasuredTheory(TheoryOptions {
            window: 0,
            ..TheoryOptions::default()
        });
        let good = ProbeConfig::MeasuredTheory(TheoryOptions::default());
        let results: Shared = Default::default();
        let updates: Arc<Mutex<Vec<(usize, ProbeUpdate)>>> = Default::default();
        let sink = Recorder {
            results: results.clone(),
            updates: updates.clone(),
            ..Recorder::default()
        };
        let Ok(obs) = ProbeObserver::new(&session, &[bad, good], sink) else {
            panic!("observer")
        };
        assert_eq!(obs.sink().opened, vec![1]);
        let mut runner = Runner::new(session);
        runner.add_observer(Cadence::Every(1), Box::new(obs));
        let reason = runner.run();
        assert!(reason.is_ok(), "{reason:?}");
        let updates = updates.lock().map(|g| g.clone()).unwrap_or_default();
        let failed = |m: &str| m.contains("`window` = 0");
        assert!(
            matches!(&updates[0], (0, ProbeUpdate::MeasuredTheory(TheoryUpdate::Failed(m))) if failed(m)),
            "{updates:?}"
        );
        assert_eq!(
            updates[1],
            (
                1,
                ProbeUpdate::MeasuredTheory(TheoryUpdate::Started { step: 0 })
            )
        );
        // Nothing more from the probe that failed.
        assert_eq!(updates.iter().filter(|u| u.0 == 0).count(), 1);
        let results = results.lock().map(|g| g.clone()).unwrap_or_default();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].probe, 1);
        assert_eq!(results[0].failed, None);
        assert_eq!(
            results[0].files.names(),
            vec!["theory.csv", "theory_summary.json"]
        );
        assert!(results[0].report.describe().starts_with("theory: "));
    }

    #[test]
    fn failed_and_started_updates_belong_to_their_probe() {
        let c = ProbeConfig::MeasuredTheory(TheoryOptions::default());
        assert_eq!(
            c.started(5),
            ProbeUpdate::MeasuredTheory(TheoryUpdate::Started { step: 5 })
        );
        assert_eq!(
            c.failed("x".into()),
            ProbeUpdate::MeasuredTheory(TheoryUpdate::Failed("x".into()))
        );
        assert_eq!(c.started(5).csv_row(), None);
    }
}
