//! Replaying several recorded Python actors together from Python (`mycelium.journal.ReplaySet`):
//! the journal's [`mycelium_journal::ReplaySet`] on a virtual-time `Bus`, each member a
//! Python class spawned as the replayed actor of a recorded number.
//!
//! The set feeds each member the inputs it had from outside the set at their recorded bus
//! times, lets the members' messages to each other be made again, and compares every
//! member's answers, sends, publications and failures with the recorded ones (see
//! docs/journal.md). The Python side (`_replay.py`) picks the recorded numbers and shapes the
//! report.

use std::sync::{Arc, Mutex};

use mycelium_journal::{ReplayError, ReplayMode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::actor_ref::ActorRef;
use crate::bus::Bus;
use crate::host::{PyArgs, PyForeign};

/// One difference as Python gets it: `(input, seq, time_ns, message, recorded, now, before,
/// recorded_outputs, now_outputs)`.
type DifferenceRow = (
    u64,
    u64,
    u64,
    String,
    String,
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

/// One member's report: `(recorded actor, inputs fed, cut, differences)`.
type ActorRow = (u64, u64, Option<String>, Vec<DifferenceRow>);

/// A replay of several recorded actors on one virtual-time bus.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct ReplaySet {
    /// Taken out while a call runs on the bus's runtime (and put back), gone once run.
    set: Mutex<Option<mycelium_journal::ReplaySet>>,
    bus: Py<Bus>,
    path: String,
    /// The bus's clock, held from the set's making until it runs.
    held: Mutex<Option<mycelium_foreign::HeldClock>>,
}

/// A journal that cannot be read as `JournalReadError`/`JournalCorrupt`; any other reason
/// as `ValueError` with the replay's own words, which the Python side raises as
/// `ReplayError`.
fn replay_error(py: Python<'_>, e: ReplayError) -> PyErr {
    match e {
        ReplayError::Journal(e) => crate::journal::journal_error(py, e, None),
        other => PyValueError::new_err(other.to_string()),
    }
}

impl ReplaySet {
    fn take(&self) -> PyResult<mycelium_journal::ReplaySet> {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "the replay of {} has run (or is running): make a new ReplaySet to replay \
                     it again",
                    self.path
                ))
            })
    }

    fn put_back(&self, set: mycelium_journal::ReplaySet) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = Some(set);
    }
}

#[pymethods]
impl ReplaySet {
    /// Reads the journal at `path` (to its end, a gap, or a crash's cut; with `run`, that
    /// run of it) for a replay on `bus`, a virtual-time bus.
    #[new]
    #[pyo3(signature = (path, bus, run=None))]
    fn new(py: Python<'_>, path: String, bus: Py<Bus>, run: Option<usize>) -> PyResult<Self> {
        if !bus.get().rust_bus()?.clock().is_virtual() {
            return Err(PyValueError::new_err(
                "a replay runs on a virtual-time bus: Bus(virtual_time=True)",
            ));
        }
        let reader = crate::journal::open_run(py, path.as_ref(), run)?;
        let mut set = py
            .detach(|| mycelium_journal::ReplaySet::new(&reader))
            .map_err(|e| replay_error(py, e))?;
        // Plain objects in the report as their `repr`, as a replay of one actor shows them.
        set.show_payloads_with(std::sync::Arc::new(crate::recording::show_pickled));
        // Bus time stands still while the program spawns the members one call at a time: a
        // member's timer must not fire before a later member is there to make what it handled
        // before that timer live.
        let held = Mutex::new(Some(mycelium_foreign::hold_clock(bus.get().handle())));
        Ok(ReplaySet {
            set: Mutex::new(Some(set)),
            bus,
            path,
            held,
        })
    }

    /// The recorded actors: `(number, type)`, in the order they first started.
    fn recorded_actors(&self) -> PyResult<Vec<(u64, String)>> {
        let set = self.take()?;
        let actors = set.recorded_actors();
        self.put_back(set);
        Ok(actors)
    }

    /// Spawns the class of `host` (a `_Host`), started with `args`, as the replayed actor of
    /// the recorded number `recorded`, recorded as `type_name`. It starts at its recorded
    /// start's bus time and is restarted in place after a failure, as many times as recorded.
    fn spawn(
        &self,
        py: Python<'_>,
        recorded: u64,
        host: Py<PyAny>,
        args: Py<PyAny>,
        type_name: String,
    ) -> PyResult<ActorRef> {
        let bus = self.bus.get();
        let foreign = Arc::new(PyForeign::new(py, host, bus.schema(), bus.actors())?);
        let mut set = self.take()?;
        let rust_bus = bus.rust_bus()?;
        let holder = foreign.clone();
        let input = move |record: &mycelium_journal::Record| {
            crate::recording::replay_input(&holder, record)
        };
        // On the bus's runtime, as every task of the replay.
        let task = bus.handle().spawn(async move {
            // The set holds its clock until it runs: a start is not waited for.
            let spawned = mycelium_foreign::recording::spawn_replayed_unstarted(
                &mut set,
                &rust_bus,
                recorded,
                foreign,
                PyArgs(Arc::new(args)),
                &type_name,
                input,
            )
            .await;
            (set, spawned)
        });
        let (set, spawned) = crate::wait::wait(py, bus.handle(), task)?
            .map_err(|e| PyValueError::new_err(format!("the replay's spawn was lost: {e}")))?;
        self.put_back(set);
        let actor = spawned.map_err(|e| replay_error(py, e))?;
        Ok(ActorRef::foreign_in(
            actor,
            bus.handle(),
            bus.schema().clone(),
        ))
    }

    /// Lets the bus's clock move (a set that will not run, being closed).
    fn release_clock(&self) {
        drop(self.held.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    /// Runs the replay to its end (`compare`) or to the first difference, then stops the
    /// replayed actors: one row per member (see `ActorRow`) and the report's CSV.
    fn run(&self, py: Python<'_>, compare: bool) -> PyResult<(Vec<ActorRow>, String)> {
        let set = self.take()?;
        let bus = self.bus.get();
        let mode = if compare {
            ReplayMode::Compare
        } else {
            ReplayMode::StopAtFirst
        };
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        let task = bus.handle().spawn(async move {
            // The clock moves from the run's first step on.
            drop(held);
            set.run(mode).await
        });
        let report = crate::wait::wait(py, bus.handle(), task)?
            .map_err(|e| PyValueError::new_err(format!("the replay was lost: {e}")))?
            .map_err(|e| replay_error(py, e))?;
        let rows = report
            .actors
            .iter()
            .map(|a| {
                let differences = a
                    .differences
                    .iter()
                    .map(|d| {
                        (
                            d.input,
                            d.seq,
                            d.time_ns,
                            d.message.clone(),
                            d.recorded.clone(),
                            d.now.clone(),
                            d.before.clone(),
                            d.recorded_outputs.clone(),
                            d.now_outputs.clone(),
                        )
                    })
                    .collect();
                (a.actor, a.inputs, a.cut.clone(), differences)
            })
            .collect();
        Ok((rows, report.to_csv()))
    }
}
