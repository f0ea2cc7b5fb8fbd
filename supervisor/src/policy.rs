//! The supervision policy as a pure function: given the state of a supervisor's children, an
//! event and the bus time, the actions to take. No actors and no runtime: the supervisor
//! actor ([`crate::supervisor`]) feeds it events and carries its actions out, and its tests
//! (`policy/tests.rs`) read as tables.
//!
//! Rules it implements:
//! - An incarnation that ends by itself is restarted by its restart type (`Permanent` always,
//!   `Transient` after a failure, `Temporary` never). Every restart is recorded in the restart
//!   window; one more than the intensity allows, or the `k + 1`-th consecutive failure under
//!   `Backoff::max_restarts(k)`, gives up.
//! - A restart stops the running members of the strategy's group in reverse start order
//!   (temporary bystanders are stopped for good and forgotten), and all of them wait the failed
//!   child's backoff. They are then started one per step, in start order.
//! - A restart attempt that fails in `on_start` is a failure of that child like any other: its
//!   group is stopped and waits again. So rest_for_one resumes at the failed child, one_for_all
//!   starts the whole group again, and one_for_one retries only that child.
//! - A child that is not restarted becomes `Stopped` (its spec kept), or is forgotten if it is
//!   temporary or in a pool. A significant child's own exit may shut the supervisor down.
//! - An operator's stop of a child waiting for its restart cancels that restart: the members
//!   of its group waiting behind it stay down (`Stopped`), as in OTP.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{DetRng, StopReason};

use crate::intensity::RestartWindow;
use crate::{AutoShutdown, Backoff, Restart, RestartStrategy, SupervisorError};

/// Where one child is in its life.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum State {
    /// A live incarnation, started at `since`.
    Running { since: Duration },
    /// No live incarnation since `since`; it is started again at `due`, after `delay`, as
    /// restart number `attempt` since its last clean run.
    Restarting {
        since: Duration,
        due: Duration,
        delay: Duration,
        attempt: u32,
    },
    /// No incarnation, and none planned.
    Stopped,
}

/// What the supervisor must do.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// End the running child's incarnation so that it restarts with its group: its task,
    /// ref and mailbox stay.
    Suspend(Arc<str>),
    /// Stop the child for good (a child waiting for a decision keeps its own reason).
    Stop(Arc<str>),
    /// Forget the child's spec (it was stopped first when needed).
    Forget(Arc<str>),
    /// Start a new incarnation of the child; report `Started` or `StartFailed` back.
    Restart {
        child: Arc<str>,
        delay: Duration,
        attempt: u32,
    },
    /// Restart intensity exceeded: stop every child, then fail with this reason.
    GiveUp(String),
    /// The significant children are done: stop every child, then end normally.
    Shutdown,
}

/// One child as the policy sees it.
#[derive(Clone, Debug)]
pub(crate) struct Child {
    pub(crate) name: Arc<str>,
    pub(crate) restart: Restart,
    pub(crate) significant: bool,
    pub(crate) state: State,
    /// Restarts since the child last ran cleanly.
    attempt: u32,
    /// While it waits for a restart its group planned after another child failed: that
    /// child. Stopping that child cancels the plan, and this one stays down.
    behind: Option<Arc<str>>,
}

impl Child {
    pub(crate) fn new(name: Arc<str>, restart: Restart, significant: bool) -> Self {
        Child {
            name,
            restart,
            significant,
            state: State::Stopped,
            attempt: 0,
            behind: None,
        }
    }
}

/// How a supervisor decides; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    strategy: RestartStrategy,
    max_restarts: u32,
    within: Duration,
    window: RestartWindow,
    backoff: Backoff,
    rng: DetRng,
    auto_shutdown: AutoShutdown,
    pool: bool,
    children: Vec<Child>,
    /// Gave up or shutting down: no more decisions.
    done: bool,
}

impl Policy {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        strategy: RestartStrategy,
        max_restarts: u32,
        within: Duration,
        backoff: Backoff,
        rng: DetRng,
        auto_shutdown: AutoShutdown,
        pool: bool,
    ) -> Self {
        Policy {
            strategy,
            max_restarts,
            within,
            window: RestartWindow::new(max_restarts, within),
            backoff,
            rng,
            auto_shutdown,
            pool,
            children: Vec::new(),
            done: false,
        }
    }

    /// The children, in start order.
    pub(crate) fn children(&self) -> &[Child] {
        &self.children
    }

    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| &*c.name == name)
    }

    pub(crate) fn state(&self, name: &str) -> Option<State> {
        self.index(name).map(|i| self.children[i].state)
    }

    /// Appends a child that has just started (at the end of the start order).
    pub(crate) fn add(&mut self, mut child: Child, now: Duration) -> Result<(), SupervisorError> {
        if self.index(&child.name).is_some() {
            return Err(SupervisorError::AlreadyPresent(child.name.to_string()));
        }
        child.state = State::Running { since: now };
        self.children.push(child);
        Ok(())
    }

    /// A start (initial, restart, or by `restart_child`) succeeded.
    pub(crate) fn started(&mut self, name: &str, now: Duration) {
        if let Some(i) = self.index(name) {
            self.children[i].state = State::Running { since: now };
            self.children[i].behind = None;
        }
    }

    /// An incarnation of `name` ended by itself (failed, or stopped) with `reason`.
    pub(crate) fn exited(&mut self, name: &str, reason: &StopReason, now: Duration) -> Vec<Action> {
        let Some(i) = self.index(name) else {
            return Vec::new();
        };
        let State::Running { since } = self.children[i].state else {
            // Already being stopped or restarted by the supervisor: its decision stands.
            return Vec::new();
        };
        if self.done {
            return Vec::new();
        }
        let abnormal = !matches!(reason, StopReason::Normal | StopReason::Shutdown);
        let child = &mut self.children[i];
        if !child.restart.restarts_after(abnormal) {
            let significant = child.significant;
            let mut actions = vec![Action::Stop(child.name.clone())];
            self.retire(i, &mut actions);
            if significant {
                actions.extend(self.auto_shutdown());
            }
            return actions;
        }
        if now.saturating_sub(since) >= self.backoff.reset_interval() {
            child.attempt = 0;
        }
        self.failure(i, || format!("`{name}` {reason}"), now)
    }

    /// A restart attempt of `name` failed in `on_start`: a failure like any other.
    pub(crate) fn start_failed(
        &mut self,
        name: &str,
        reason: &StopReason,
        now: Duration,
    ) -> Vec<Action> {
        let Some(i) = self.index(name) else {
            return Vec::new();
        };
        if self.done || !matches!(self.children[i].state, State::Restarting { .. }) {
            return Vec::new();
        }
        self.failure(i, || format!("`{name}` {reason}"), now)
    }

    /// A restart step at `now`: the first due child, in start order, to start.
    pub(crate) fn tick(&mut self, now: Duration) -> Option<Action> {
        if self.done {
            return None;
        }
        self.children.iter().find_map(|c| match c.state {
            State::Restarting {
                due,
                delay,
                attempt,
                ..
            } if due <= now => Some(Action::Restart {
                child: c.name.clone(),
                delay,
                attempt,
            }),
            _ => None,
        })
    }

    /// When the next restart is due, if any is planned.
    pub(crate) fn next_due(&self) -> Option<Duration> {
        if self.done {
            return None;
        }
        self.children
            .iter()
            .filter_map(|c| match c.state {
                State::Restarting { due, .. } => Some(due),
                _ => None,
            })
            .min()
    }

    /// An operator stops `name`: it stays stopped, through later group restarts, until
    /// `restart_child`. A temporary (or pool) child is forgotten. A child waiting for its
    /// restart has that restart cancelled (see [`cancel_plan`](Self::cancel_plan)).
    pub(crate) fn stop_child(&mut self, name: &str) -> Result<Vec<Action>, SupervisorError> {
        let i = self.find(name)?;
        let name = self.children[i].name.clone();
        let mut actions = self.cancel_plan(&name);
        let i = self.find(&name)?;
        if self.children[i].state != State::Stopped {
            actions.push(Action::Stop(name));
        }
        self.retire(i, &mut actions);
        Ok(actions)
    }

    /// The restart planned after `name` failed is cancelled (it is being stopped while it
    /// waits for it): the children of its group that wait behind it stay down, as OTP leaves
    /// them when `terminate_child` ends a child in its restart loop. They become `Stopped`
    /// (a temporary or pool child is forgotten), their tasks stopped in reverse start order.
    /// Under rest_for_one these are the children after it; under one_for_all, every member
    /// that has not started again yet. A child waiting behind another stops alone: the
    /// plan it waits for goes on without it.
    fn cancel_plan(&mut self, name: &Arc<str>) -> Vec<Action> {
        if !matches!(self.state(name), Some(State::Restarting { .. })) {
            // Started again already: its restart happened, and the others' go on.
            return Vec::new();
        }
        let waiting: Vec<Arc<str>> = self
            .children
            .iter()
            .rev()
            .filter(|c| {
                matches!(c.state, State::Restarting { .. }) && c.behind.as_ref() == Some(name)
            })
            .map(|c| c.name.clone())
            .collect();
        let mut actions = Vec::new();
        for child in waiting {
            let Some(j) = self.index(&child) else {
                continue;
            };
            self.children[j].behind = None;
            actions.push(Action::Stop(child));
            self.retire(j, &mut actions);
        }
        actions
    }

    /// Whether `restart_child(name)` may start it: only a stopped child.
    pub(crate) fn check_restart(&self, name: &str) -> Result<(), SupervisorError> {
        let i = self.find(name)?;
        match self.children[i].state {
            State::Stopped => Ok(()),
            State::Running { .. } => Err(SupervisorError::Running(name.to_string())),
            State::Restarting { .. } => Err(SupervisorError::Restarting(name.to_string())),
        }
    }

    /// Forgets a stopped child.
    pub(crate) fn delete_child(&mut self, name: &str) -> Result<Vec<Action>, SupervisorError> {
        self.check_restart(name)?;
        if let Some(i) = self.index(name) {
            let child = self.children.remove(i);
            return Ok(vec![Action::Forget(child.name)]);
        }
        Ok(Vec::new())
    }

    /// Stops and forgets `name`, whatever its state.
    pub(crate) fn remove_child(&mut self, name: &str) -> Result<Vec<Action>, SupervisorError> {
        let i = self.find(name)?;
        let name = self.children[i].name.clone();
        let mut actions = self.cancel_plan(&name);
        let i = self.find(&name)?;
        let child = self.children.remove(i);
        if child.state != State::Stopped {
            actions.push(Action::Stop(child.name.clone()));
        }
        actions.push(Action::Forget(child.name));
        Ok(actions)
    }

    /// The supervisor stops: no more decisions; the children to stop (all but those already
    /// stopped), in reverse start order, with whether each was running.
    pub(crate) fn shut_down(&mut self) -> Vec<(Arc<str>, bool)> {
        self.done = true;
        let stopping = self
            .children
            .iter()
            .rev()
            .filter(|c| c.state != State::Stopped)
            .map(|c| (c.name.clone(), matches!(c.state, State::Running { .. })))
            .collect();
        for c in &mut self.children {
            c.state = State::Stopped;
        }
        stopping
    }

    fn find(&self, name: &str) -> Result<usize, SupervisorError> {
        self.index(name)
            .ok_or_else(|| SupervisorError::NotFound(name.to_string()))
    }

    /// A child that will not run again: stopped, or forgotten if temporary or pooled.
    fn retire(&mut self, i: usize, actions: &mut Vec<Action>) {
        if self.pool || self.children[i].restart == Restart::Temporary {
            let child = self.children.remove(i);
            actions.push(Action::Forget(child.name));
        } else {
            self.children[i].state = State::Stopped;
        }
    }

    fn auto_shutdown(&mut self) -> Option<Action> {
        let shut = match self.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => self
                .children
                .iter()
                .filter(|c| c.significant)
                .all(|c| c.state == State::Stopped),
        };
        if shut {
            self.done = true;
            Some(Action::Shutdown)
        } else {
            None
        }
    }

    fn give_up(&mut self, why: String) -> Vec<Action> {
        self.done = true;
        vec![Action::GiveUp(why)]
    }

    /// Child `i` has no live incarnation and needs a restart.
    /// `why` describes the failure; it is written out only if the supervisor gives up.
    fn failure(&mut self, i: usize, why: impl FnOnce() -> String, now: Duration) -> Vec<Action> {
        // Its incarnation has ended, whatever is decided: a give-up then stops it as a child
        // that was not running (its failure is reported once, not again as a crash while
        // being stopped).
        let ended = State::Restarting {
            since: now,
            due: now,
            delay: Duration::ZERO,
            attempt: self.children[i].attempt,
        };
        if let State::Running { .. } = self.children[i].state {
            self.children[i].state = ended;
        }
        if !self.window.try_record(now) {
            let why = format!(
                "more than {} restarts within {:?}; the last: {}",
                self.max_restarts,
                self.within,
                why()
            );
            return self.give_up(why);
        }
        let attempt = self.children[i].attempt;
        if let Some(k) = self.backoff.max_restart_count() {
            if attempt >= k {
                let why = format!(
                    "{} consecutive failures, and its backoff allows {k} restarts; the last: {}",
                    attempt + 1,
                    why()
                );
                return self.give_up(why);
            }
        }
        let delay = self.backoff.delay(attempt, &mut self.rng);
        let due = now.saturating_add(delay);
        let child = &mut self.children[i];
        child.attempt = attempt.saturating_add(1);
        child.behind = None;
        let since = match child.state {
            State::Restarting { since, .. } => since,
            _ => now,
        };
        child.state = State::Restarting {
            since,
            due,
            delay,
            attempt,
        };
        if self.group(i).len() == 1 {
            // One for one: no sibling to stop or delay.
            return Vec::new();
        }
        let group: Vec<Arc<str>> = self
            .group(i)
            .map(|j| self.children[j].name.clone())
            .collect();
        let failed = self.children[i].name.clone();
        let mut actions = Vec::new();
        for name in group.iter().rev().filter(|n| **n != failed) {
            let Some(j) = self.index(name) else { continue };
            let c = &mut self.children[j];
            match c.state {
                State::Running { .. } if c.restart == Restart::Temporary => {
                    actions.push(Action::Stop(c.name.clone()));
                    let c = self.children.remove(j);
                    actions.push(Action::Forget(c.name));
                }
                State::Running { .. } => {
                    actions.push(Action::Suspend(c.name.clone()));
                    c.state = State::Restarting {
                        since: now,
                        due,
                        delay,
                        attempt,
                    };
                    c.behind = Some(failed.clone());
                }
                State::Restarting { since, .. } => {
                    c.state = State::Restarting {
                        since,
                        due,
                        delay,
                        attempt,
                    };
                    c.behind = Some(failed.clone());
                }
                State::Stopped => {}
            }
        }
        actions
    }

    fn group(&self, i: usize) -> std::ops::Range<usize> {
        match self.strategy {
            RestartStrategy::OneForOne => i..i + 1,
            RestartStrategy::OneForAll => 0..self.children.len(),
            RestartStrategy::RestForOne => i..self.children.len(),
        }
    }
}

#[cfg(test)]
mod tests;
