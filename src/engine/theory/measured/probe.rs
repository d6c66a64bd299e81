//! [`TheoryProbe`]: the measured-theory tracker on the probe seam ([`crate::engine::probe`]).

use super::log::TheoryUpdate;
use super::options::TheoryOptions;
use super::tracker::{CSV_COLUMNS, MeasuredTracker, Phase, StepInput};
use crate::engine::network::Evaluator;
use crate::engine::probe::{CsvFile, Probe, ProbeError, ProbeFiles, ProbeReport, ProbeUpdate};
use crate::engine::session::{Session, StepRecord};
use crate::engine::theory::TheoryError;

/// Feeds each step to a [`MeasuredTracker`] (f64 derivatives on a copy of the session's
/// network and training set) and reports new anchors, rows, probe counts and phase changes.
pub struct TheoryProbe {
    tracker: MeasuredTracker<Evaluator<f64>>,
    phase: Phase,
    reported_anchors: usize,
}

impl TheoryProbe {
    pub fn new(session: &Session, opts: TheoryOptions) -> Result<Self, TheoryError> {
        Ok(TheoryProbe {
            tracker: MeasuredTracker::new(session.evaluator_f64(), opts)?,
            phase: Phase::Searching,
            reported_anchors: 0,
        })
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
            push(TheoryUpdate::Probes {
                probes: after.0,
                hvps: after.1,
            });
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
        ProbeReport::MeasuredTheory(self.tracker.report())
    }
}
