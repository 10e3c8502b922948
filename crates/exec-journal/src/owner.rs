//! The thread that owns the connection, and the commands callers send it.
//!
//! One `std::thread` (not a tokio worker: SQLite's fsync blocks) receives commands over a
//! channel. It takes the first command, then whatever else is already queued (at most
//! [`MAX_BATCH`]), and runs the writes among them in ONE transaction, each under its own
//! savepoint (a write that fails is rolled back alone and answered with its error). Only once
//! the transaction is committed does it answer the writers, over their oneshots: a caller's
//! `Ok` means its row is on disk ("written before sent", R-GW-2). A commit that fails answers
//! every write of the batch with the error. A read first commits the writes queued before it,
//! so it sees them and answers in order.

use std::sync::mpsc;

use exec_gateway::JournalError;
use rusqlite::Connection;
use tokio::sync::oneshot;

/// At most this many commands are taken into one transaction (bounds one batch's latency).
pub(crate) const MAX_BATCH: usize = 256;

/// Sends a write's answer, given how its batch's commit went.
pub(crate) type Answer = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// A write: run on the connection (or told why it cannot run), it returns whether it
/// succeeded and how to answer its caller once the batch is committed.
pub(crate) type WriteJob =
    Box<dyn FnOnce(Result<&Connection, JournalError>) -> (bool, Answer) + Send>;

/// A read: runs on the connection and answers at once.
pub(crate) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// What the owner is asked to do.
pub(crate) enum Command {
    Write(WriteJob),
    Read(ReadJob),
    /// Commit what is queued before it, close the connection, then answer: later commands
    /// find the owner gone.
    Close(oneshot::Sender<()>),
    /// Test hook: the owner blocks until the sender is dropped or sends.
    #[cfg(feature = "testing")]
    Hold(std::sync::mpsc::Receiver<()>),
    /// Test hook: the next batch is rolled back instead of committed.
    #[cfg(feature = "testing")]
    FailNextCommit,
    /// Test hook: the owner thread ends (as if it had died).
    #[cfg(feature = "testing")]
    Stop,
}

/// What the owner counted (test hook: how many transactions it committed).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: std::sync::atomic::AtomicU64,
}

fn io(e: impl std::fmt::Display) -> JournalError {
    JournalError::Io(e.to_string())
}

/// The writes of the open transaction, answered once it ends.
struct Batch {
    open: bool,
    answers: Vec<Answer>,
    #[cfg(feature = "testing")]
    fail_commit: bool,
}

impl Batch {
    fn new() -> Self {
        Batch {
            open: false,
            answers: Vec::new(),
            #[cfg(feature = "testing")]
            fail_commit: false,
        }
    }

    fn write(&mut self, conn: &Connection, job: WriteJob) {
        self.check_open(conn);
        if !self.open {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                let (_, answer) = job(Err(io(e)));
                answer(Ok(()));
                return;
            }
            self.open = true;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT write") {
            let (_, answer) = job(Err(io(e)));
            self.answers.push(answer);
            return;
        }
        let (ok, answer) = job(Ok(conn));
        let end = if ok {
            "RELEASE write"
        } else {
            "ROLLBACK TO write; RELEASE write"
        };
        // A savepoint that cannot be ended leaves the transaction in doubt: the commit below
        // then fails (or rolls back) and every write of the batch is answered with that.
        if let Err(e) = conn.execute_batch(end) {
            tracing::error!(error = %e, "journal savepoint could not be ended");
        }
        self.answers.push(answer);
        self.check_open(conn);
    }

    /// On some errors (a full disk, an I/O error) SQLite rolls the whole transaction back by
    /// itself: the writes taken into it are lost, and are answered so now; the next write
    /// begins a new transaction (rather than running, and committing, outside one while the
    /// batch is still taken for open).
    fn check_open(&mut self, conn: &Connection) {
        if self.open && conn.is_autocommit() {
            self.open = false;
            let lost = JournalError::Io("the journal's transaction was rolled back".into());
            tracing::error!(
                writes = self.answers.len(),
                "journal transaction rolled back by SQLite"
            );
            for answer in self.answers.drain(..) {
                answer(Err(lost.clone()));
            }
        }
    }

    /// Commits the open transaction (one fsync), then answers every write in it.
    fn commit(&mut self, conn: &Connection, counters: &Counters) {
        if !self.open {
            return;
        }
        self.open = false;
        #[cfg(feature = "testing")]
        let fail = std::mem::take(&mut self.fail_commit);
        #[cfg(not(feature = "testing"))]
        let fail = false;
        let result = if fail {
            conn.execute_batch("ROLLBACK")
                .map_err(io)
                .and(Err(JournalError::Io("commit failed (test hook)".into())))
        } else {
            conn.execute_batch("COMMIT").map_err(io)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, writes = self.answers.len(), "journal batch not committed");
            // Leave no transaction open behind a failed commit.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        } else {
            counters
                .commits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for answer in self.answers.drain(..) {
            answer(result.clone());
        }
    }
}

/// The owner's loop: until every handle is dropped (or a test stops it).
pub(crate) fn run(conn: Connection, commands: mpsc::Receiver<Command>, counters: &Counters) {
    let mut batch = Batch::new();
    while let Ok(first) = commands.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(command) = next.take() {
            match command {
                Command::Write(job) => batch.write(&conn, job),
                Command::Read(job) => {
                    batch.commit(&conn, counters);
                    job(&conn);
                }
                Command::Close(done) => {
                    batch.commit(&conn, counters);
                    drop(conn);
                    let _ = done.send(());
                    return;
                }
                #[cfg(feature = "testing")]
                Command::Hold(release) => {
                    batch.commit(&conn, counters);
                    let _ = release.recv();
                }
                #[cfg(feature = "testing")]
                Command::FailNextCommit => batch.fail_commit = true,
                #[cfg(feature = "testing")]
                Command::Stop => {
                    batch.commit(&conn, counters);
                    return;
                }
            }
            taken += 1;
            if taken < MAX_BATCH {
                next = commands.try_recv().ok();
            }
        }
        batch.commit(&conn, counters);
    }
}

/// The caller's side of a write: the job for the owner and the receiver of its answer.
pub(crate) fn write_job<T: Send + 'static>(
    f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
) -> (WriteJob, oneshot::Receiver<Result<T, JournalError>>) {
    let (tx, rx) = oneshot::channel();
    let job: WriteJob = Box::new(move |conn| {
        let result = conn.and_then(f);
        let ok = result.is_ok();
        let answer: Answer = Box::new(move |commit| {
            let _ = tx.send(commit.and(result));
        });
        (ok, answer)
    });
    (job, rx)
}

/// The caller's side of a read.
pub(crate) fn read_job<T: Send + 'static>(
    f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
) -> (ReadJob, oneshot::Receiver<Result<T, JournalError>>) {
    let (tx, rx) = oneshot::channel();
    let job: ReadJob = Box::new(move |conn| {
        let _ = tx.send(f(conn));
    });
    (job, rx)
}
