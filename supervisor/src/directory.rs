//! The directory: what a supervisor's handles ([`SupervisorRef`](crate::SupervisorRef)) can
//! read without asking it, and what a killer needs to stop a killed supervisor's subtree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_actors::{ActorRef, ChildHandle, SpawnError};
use tokio::sync::watch;

use crate::Supervisor;

/// Shared between a supervisor (all its incarnations) and its refs.
#[derive(Clone, Default)]
pub(crate) struct Directory(Arc<Mutex<DirState>>);

#[derive(Default)]
pub(crate) struct DirState {
    /// Every child with a task, in start order.
    pub(crate) entries: Vec<DirEntry>,
    /// Why the last start failed, for `SupervisorBuilder::spawn`.
    pub(crate) start_error: Option<SpawnError>,
    /// The restarts this supervisor has finished, for `SupervisorRef::wait_restarts`.
    pub(crate) restarts: watch::Sender<RestartCount>,
}

/// How many restarts a supervisor has finished: in all, and of each child it still has.
#[derive(Clone, Debug, Default)]
pub(crate) struct RestartCount {
    total: u64,
    by_child: HashMap<Arc<str>, u64>,
}

impl RestartCount {
    /// Of child `name`, or of all children if `None`.
    pub(crate) fn of(&self, name: Option<&str>) -> u64 {
        match name {
            None => self.total,
            Some(name) => self.by_child.get(name).copied().unwrap_or(0),
        }
    }

    pub(crate) fn record(&mut self, name: &Arc<str>) {
        self.total += 1;
        *self.by_child.entry(name.clone()).or_default() += 1;
    }

    /// The child's spec is gone: its count goes with it (a pool's children come and go).
    pub(crate) fn forget(&mut self, name: &str) -> bool {
        self.by_child.remove(name).is_some()
    }
}

#[derive(Clone)]
pub(crate) struct DirEntry {
    pub(crate) name: Arc<str>,
    pub(crate) handle: Arc<dyn ChildHandle>,
    pub(crate) sub: Option<Directory>,
    pub(crate) running: bool,
    /// No incarnation runs and the supervisor plans a restart.
    pub(crate) restarting: bool,
}

impl Directory {
    pub(crate) fn lock(&self) -> MutexGuard<'_, DirState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells directories apart: equal for clones of one directory.
    pub(crate) fn id(&self) -> *const Mutex<DirState> {
        Arc::as_ptr(&self.0)
    }

    pub(crate) fn find(&self, name: &str) -> Option<DirEntry> {
        self.lock()
            .entries
            .iter()
            .find(|e| &*e.name == name)
            .cloned()
    }

    /// Every actor below this supervisor, parents before their children, each level in
    /// start order.
    pub(crate) fn descendants(&self) -> Vec<Arc<dyn ChildHandle>> {
        let entries = self.lock().entries.clone();
        let mut all = Vec::new();
        for e in entries {
            all.push(e.handle.clone());
            if let Some(sub) = &e.sub {
                all.extend(sub.descendants());
            }
        }
        all
    }
}

/// How to find a supervisor again, whatever became of the nested supervisors above it: a
/// tree's root (whose directory serves all its incarnations) and the names of the nested
/// supervisors from there down. A nested supervisor spawned anew (after a kill) has a new
/// ref and a new directory; its parent's directory lists the one that runs now.
#[derive(Clone)]
pub(crate) struct Path {
    root: ActorRef<Supervisor>,
    root_directory: Directory,
    names: Arc<[Arc<str>]>,
}

impl Path {
    /// The path of a tree's root.
    pub(crate) fn root(actor: ActorRef<Supervisor>, directory: Directory) -> Self {
        Path {
            root: actor,
            root_directory: directory,
            names: Arc::from([]),
        }
    }

    /// The path of the nested supervisor `name` below this one.
    pub(crate) fn child(&self, name: &str) -> Self {
        let names: Vec<Arc<str>> = self
            .names
            .iter()
            .cloned()
            .chain([Arc::from(name)])
            .collect();
        Path {
            root: self.root.clone(),
            root_directory: self.root_directory.clone(),
            names: names.into(),
        }
    }

    /// The supervisor at the end of the path that runs now, and its directory; `None` while
    /// one on the way has no running incarnation.
    pub(crate) fn resolve(&self) -> Option<(ActorRef<Supervisor>, Directory)> {
        let mut found = (self.root.clone(), self.root_directory.clone());
        for name in self.names.iter() {
            let entry = found.1.find(name)?;
            found = (ActorRef::from_handle(&entry.handle)?, entry.sub?);
        }
        Some(found)
    }
}
