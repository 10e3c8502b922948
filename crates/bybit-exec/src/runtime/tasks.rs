//! The long-running tasks of one process (the order follower, the public stream's drain,
//! `serve`'s refresher, reconciler and bus watcher): each runs under a child of one root
//! [`CancellationToken`] and is counted by one [`TaskTracker`]. Stopping cancels the root (so
//! every child), closes the tracker and waits for it, bounded. Dropping the last handle
//! without a stop cancels the root too, so a failed start leaves nothing running.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// The root token and the tracker; cheap to clone (every clone is the same set of tasks).
#[derive(Debug, Clone)]
pub struct Tasks {
    root: CancellationToken,
    tracker: TaskTracker,
    /// Cancels the root when the last clone goes.
    _guard: Arc<DropGuard>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

impl Tasks {
    /// A new root with no task.
    pub fn new() -> Self {
        let root = CancellationToken::new();
        Tasks {
            _guard: Arc::new(root.clone().drop_guard()),
            root,
            tracker: TaskTracker::new(),
        }
    }

    /// A child of the root: cancelled with it, or alone (one part of the process stopping
    /// first, e.g. `serve`'s tasks before the runtime).
    pub fn child_token(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// A set of tasks of its own under a child of this root: [`shutdown`](Self::shutdown) on
    /// it stops and waits for its tasks alone (e.g. `serve`'s, before the runtime's), while this
    /// root's cancellation cancels them too and its shutdown waits for them as well.
    pub fn child(&self) -> Tasks {
        let root = self.root.child_token();
        let tracker = TaskTracker::new();
        let (token, waited) = (root.clone(), tracker.clone());
        self.tracker.spawn(async move {
            token.cancelled().await;
            waited.close();
            waited.wait().await;
        });
        Tasks {
            _guard: Arc::new(root.clone().drop_guard()),
            root,
            tracker,
        }
    }

    /// Runs `task` until it ends or the root is cancelled.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.spawn_until(self.child_token(), task);
    }

    /// Runs `task` until it ends or `token` (a [`child_token`](Self::child_token)) is
    /// cancelled: then it is dropped at its next `.await`.
    pub fn spawn_until(
        &self,
        token: CancellationToken,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.tracker.spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Tracks a task another crate spawned (e.g. the gateway's order follower): aborted when
    /// the root is cancelled, waited for like the others.
    pub fn adopt(&self, mut handle: JoinHandle<()>) {
        let token = self.child_token();
        self.tracker.spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {
                    handle.abort();
                    let _ = handle.await;
                }
                _ = &mut handle => {}
            }
        });
    }

    /// Whether the root was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.root.is_cancelled()
    }

    /// Cancels the root, then waits at most `within` for every task to end. Returns whether
    /// they all did.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.root.cancel();
        self.tracker.close();
        tokio::time::timeout(within, self.tracker.wait())
            .await
            .is_ok()
    }

    /// How many tasks are running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[tokio::test]
    async fn shutdown_cancels_every_task_and_waits_for_them() {
        let tasks = Tasks::new();
        let (held, mut dropped) = tokio::sync::mpsc::channel::<()>(1);
        // Two that never end by themselves (each holds a sender until it is dropped), one
        // adopted from a plain spawn.
        for _ in 0..2 {
            let held = held.clone();
            tasks.spawn(async move {
                let _held = held;
                std::future::pending::<()>().await;
            });
        }
        drop(held);
        let adopted = tokio::spawn(std::future::pending::<()>());
        let abort = adopted.abort_handle();
        tasks.adopt(adopted);
        assert_eq!(tasks.len(), 3);
        assert!(tasks.shutdown(Duration::from_secs(5)).await);
        assert!(tasks.is_empty() && tasks.is_cancelled());
        assert_eq!(dropped.recv().await, None, "both tasks were dropped");
        assert!(abort.is_finished(), "the adopted task was aborted");
    }

    #[tokio::test]
    async fn a_child_token_stops_its_tasks_alone() {
        let tasks = Tasks::new();
        let child = tasks.child_token();
        tasks.spawn_until(child.clone(), std::future::pending());
        tasks.spawn(std::future::pending());
        child.cancel();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tasks.len() != 1 && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(tasks.len(), 1, "only the child's task ended");
        assert!(!tasks.is_cancelled());
        assert!(tasks.shutdown(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn a_child_set_stops_alone_and_with_its_parent() {
        let parent = Tasks::new();
        let child = parent.child();
        child.spawn(std::future::pending());
        parent.spawn(std::future::pending());
        assert!(child.shutdown(Duration::from_secs(5)).await);
        assert!(child.is_empty() && !parent.is_cancelled());
        // The parent's shutdown cancels and waits for a child set that was not stopped.
        let other = parent.child();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        other.spawn(async move {
            let _tx = tx; // dropped when the task is
            std::future::pending::<()>().await;
        });
        assert!(parent.shutdown(Duration::from_secs(5)).await);
        assert!(other.is_cancelled() && other.is_empty());
        assert!(rx.await.is_err(), "the child's task was dropped");
    }

    #[tokio::test]
    async fn dropping_the_last_handle_cancels_the_root() {
        let tasks = Tasks::new();
        let token = tasks.child_token();
        let clone = tasks.clone();
        drop(tasks);
        assert!(!token.is_cancelled(), "a clone still holds it");
        drop(clone);
        assert!(token.is_cancelled());
    }
}
