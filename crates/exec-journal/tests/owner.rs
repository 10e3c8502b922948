//! The owner thread: a write is answered only once it is committed (R-GW-2, "written before
//! sent"), concurrent writes share one commit, a failed commit fails every write in it, reads
//! see the writes queued before them, and a stopped owner gives errors, not panics.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use exec_gateway::{Intent, Journal, JournalError};
use exec_journal::SqliteJournal;
use rust_decimal_macros::dec;

fn intent(n: usize) -> Intent {
    Intent {
        trade_tag: "T1".into(),
        leg: format!("TP{n}"),
        order_link_id: format!("andre_TP{n}_T1"),
        symbol: "BTCUSDT".into(),
        side: "Sell".into(),
        qty: dec!(0.001),
        price: Some(dec!(51000)),
        trigger_price: None,
        kind: "limit".into(),
        reason: "setup_tps".into(),
        at_ms: 1,
    }
}

/// Whether a second connection (another reader of the file, as after a crash) sees the intent.
fn on_disk(path: &Path, link: &str) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM intents WHERE order_link_id = ?1",
        [link],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Polls each future once: each has then sent its command to the owner.
async fn send_all<T>(futures: &mut [Pending<T>]) {
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            assert!(f.as_mut().poll(cx).is_pending(), "answered while held");
        }
        Poll::Ready(())
    })
    .await;
}

fn writes(j: &Arc<SqliteJournal>, n: usize) -> Vec<Pending<Result<(), JournalError>>> {
    (0..n)
        .map(|i| {
            let j = j.clone();
            Box::pin(async move { j.record_intent(&intent(i)).await }) as Pending<_>
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_write_is_on_disk_when_its_await_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = Arc::new(SqliteJournal::open(&path).unwrap());
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let (j, path) = (j.clone(), path.clone());
            tokio::spawn(async move {
                let i = intent(n);
                j.record_intent(&i).await.unwrap();
                // Right after the await: another connection must already see it.
                assert!(on_disk(&path, &i.order_link_id), "{} not durable", i.leg);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn queued_writes_are_committed_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = Arc::new(SqliteJournal::open(&path).unwrap());
    let release = j.hold().unwrap();
    let mut pending = writes(&j, 20);
    send_all(&mut pending).await;
    let before = j.commits();
    drop(release);
    for r in futures_util::future::join_all(pending).await {
        r.unwrap();
    }
    assert_eq!(
        j.commits() - before,
        1,
        "one commit for the 20 queued writes"
    );
    assert_eq!(j.intents("T1").await.unwrap().len(), 20);
}

#[tokio::test]
async fn a_failed_commit_fails_every_write_of_its_batch_and_keeps_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = Arc::new(SqliteJournal::open(&path).unwrap());
    let release = j.hold().unwrap();
    j.fail_next_commit().unwrap();
    let mut pending = writes(&j, 10);
    send_all(&mut pending).await;
    drop(release);
    for (n, r) in futures_util::future::join_all(pending)
        .await
        .into_iter()
        .enumerate()
    {
        assert!(matches!(r, Err(JournalError::Io(_))), "write {n}: {r:?}");
        assert!(!on_disk(&path, &intent(n).order_link_id));
    }
    // The owner goes on: the next write is committed.
    j.record_intent(&intent(11)).await.unwrap();
    assert!(on_disk(&path, &intent(11).order_link_id));
}

#[tokio::test]
async fn a_read_sees_the_writes_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(SqliteJournal::open(dir.path().join("journal.sqlite")).unwrap());
    let release = j.hold().unwrap();
    let mut pending = writes(&j, 3);
    send_all(&mut pending).await;
    let reader = j.clone();
    let mut read: Vec<Pending<_>> = vec![Box::pin(async move {
        reader.intents("T1").await.unwrap().len()
    })];
    send_all(&mut read).await;
    drop(release);
    assert_eq!(read.pop().unwrap().await, 3);
    for r in futures_util::future::join_all(pending).await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_busy_owner_leaves_the_async_thread_free() {
    // The owner is held (as by a slow fsync): a write waits, the thread runs other tasks.
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(SqliteJournal::open(dir.path().join("journal.sqlite")).unwrap());
    let release = j.hold().unwrap();
    let writer = j.clone();
    let write = tokio::spawn(async move { writer.record_intent(&intent(1)).await });
    let ticker = tokio::spawn(async {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    });
    ticker.await.unwrap();
    assert!(!write.is_finished(), "the write waits for the held owner");
    drop(release);
    write.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_stopped_owner_gives_io_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(dir.path().join("journal.sqlite")).unwrap();
    j.record_intent(&intent(1)).await.unwrap();
    j.stop_owner().unwrap();
    assert!(matches!(
        j.record_intent(&intent(2)).await,
        Err(JournalError::Io(_))
    ));
    assert!(matches!(j.intents("T1").await, Err(JournalError::Io(_))));
    assert!(matches!(j.open_trades().await, Err(JournalError::Io(_))));
}

#[test]
fn an_unwritable_path_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteJournal::open(file.join("journal.sqlite")).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err:?}");
}

/// `close` commits the writes queued before it and closes the file before it answers, so the
/// application may release the file's lock after it; every handle's later calls are errors.
#[tokio::test]
async fn close_commits_what_is_queued_then_answers_and_later_calls_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = Arc::new(SqliteJournal::open(&path).unwrap());
    let other = j.clone();
    let release = j.hold().unwrap();
    let mut queued = writes(&j, 5);
    send_all(&mut queued).await;
    let closing = {
        let j = j.clone();
        tokio::spawn(async move { j.close().await })
    };
    drop(release);
    closing.await.unwrap();
    for w in queued {
        w.await.unwrap();
    }
    for n in 0..5 {
        assert!(
            on_disk(&path, &intent(n).order_link_id),
            "write {n} committed"
        );
    }
    assert!(matches!(
        other.record_intent(&intent(9)).await,
        Err(JournalError::Io(_))
    ));
    j.close().await;
}
