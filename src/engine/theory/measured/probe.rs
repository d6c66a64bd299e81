//! [`TheoryProbe`]: the measured-theory tracker on the probe seam ([`crate::engine::probe`]).

use super::log::TheoryUpdate;
use super::options::TheoryOptions;
use super::tracker::{CSV_COLUMNS, MeasuredTracker, Phase, StepInput};
use crate::engine::network::{Batch, Evaluator};
use crate::engine::probe::{CsvFile, Probe, ProbeError, ProbeFiles, ProbeReport, ProbeUpdate};
use crate::engine::session::{Session, StepRecord};
use crate::engine::theory::TheoryError;
use crate::engine::{Float, Precision};

/// Feeds each step to a [`MeasuredTracker`] (f64 derivatives on a copy of the session's
/// network and training set for the anchors; the per-step λ1 probes in
/// [`TheoryOptions::probe_precision`]) and reports new anchors, rows, probe counts and phase
/// changes.
pub struct TheoryProbe {
    tracker: MeasuredTracker<Evaluator<f64>>,
    phase: Phase,
    reported_anchors: usize,
}

impl TheoryProbe {
    pub fn new(session: &Session, opts: TheoryOptions) -> Result<Self, TheoryError> {
        Ok(TheoryProbe {
            tracker: Self::tracker_for(session, opts)?,
            phase: Phase::Searching,
            reported_anchors: 0,
        })
    }

    /// The tracker a `TheoryProbe` runs on `session`: f64 derivatives for the anchors and, with
    /// f32 probes, an f32 copy of the network and training set for the per-step λ1.
    pub fn tracker_for(
        session: &Session,
        opts: TheoryOptions,
    ) -> Result<MeasuredTracker<Evaluator<f64>>, TheoryError> {
        let ev64 = session.evaluator_f64();
        match opts.probe_precision {
            Precision::F64 => MeasuredTracker::new(ev64, opts),
            Precision::F32 => {
                let ev32: Evaluator<f32> = evaluator_in(&ev64, session.config().chunk_rows);
                MeasuredTracker::with_cheap_probes(ev64, Box::new(ev32), opts)
            }
        }
    }

    pub fn tracker(&self) -> &MeasuredTracker<Evaluator<f64>> {
        &self.tracker
    }
}

impl Probe for TheoryProbe {
    fn observe(
        &mut self,
        session: &Session,
        record: &StepRecord,
        out: &mut Vec<ProbeUpdate>,
    ) -> Result<(), ProbeError> {
        let params = session.params_f64();
        let input = StepInput::from_record(record, &params);
        let before = self.tracker.probe_stats();
        let row = self.tracker.observe(&input)?;
        let mut push = |u: TheoryUpdate| out.push(ProbeUpdate::MeasuredTheory(u));
        for a in &self.tracker.anchors()[self.reported_anchors..] {
            push(TheoryUpdate::Anchor(Box::new(a.info.clone())));
        }
        self.reported_anchors = self.tracker.anchors().len();
        if let Some(row) = row {
            push(TheoryUpdate::Row(Box::new(row)));
        }
        let after = self.tracker.probe_stats();
        if after != before {
            push(TheoryUpdate::Probes(after));
        }
        if *self.tracker.phase() != self.phase {
            self.phase = self.tracker.phase().clone();
            push(TheoryUpdate::Phase(self.phase.clone()));
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        *self.tracker.phase() == Phase::Done
    }

    fn files(&self) -> ProbeFiles {
        ProbeFiles {
            csv: Some(CsvFile {
                name: "theory.csv",
                columns: CSV_COLUMNS.iter().map(|s| s.to_string()).collect(),
            }),
            summary: Some("theory_summary.json"),
        }
    }

    fn report(&self) -> ProbeReport {
        ProbeReport::MeasuredTheory(Box::new(self.tracker.report()))
    }
}

/// An evaluator in arithmetic `T` of the same network, loss and training set as `ev`, with
/// `chunk_rows` rows per chunk. With `T` = f32 and `ev` = a session's `evaluator_f64` of an f32
/// run (inputs widened from f32), this is the run's own evaluator again: the same inputs,
/// chunks and products.
pub fn evaluator_in<T: Float, S: Float>(ev: &Evaluator<S>, chunk_rows: usize) -> Evaluator<T> {
    let b = ev.train();
    let batch = Batch {
        x: b.x.mapv(|v| T::of(v.f64())),
        y: b.y.mapv(|v| T::of(v.f64())),
        labels: b.labels.clone(),
    };
    Evaluator::new(
        ev.spec().clone(),
        ev.loss_kind(),
        batch,
        ev.threads(),
        chunk_rows,
    )
}
