use std::collections::BTreeSet;
use std::sync::Arc;

use exec_events::{ErrorKind, ErrorLog, ExecutionError};

fn error(n: usize) -> ExecutionError {
    ExecutionError {
        kind: ErrorKind::InsufficientBalance,
        trade_tag: Some(format!("T{n}")),
        leg: Some("ENTRY".into()),
        order_link_id: Some(format!("andre_ENTRY_T{n}")),
        ret_code: Some(110007),
        message: "ab not enough for new order ".repeat(20),
        time_ms: 1_700_000_000_000,
    }
}

#[test]
fn the_directory_is_created_and_each_error_is_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/logs/execution-error.log");
    let log = ErrorLog::open(&path).unwrap();
    log.append(&error(1)).unwrap();
    log.append(&error(2)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["ret_code"], 110007);
    assert_eq!(first["order_link_id"], "andre_ENTRY_T1");
    // Only the error's own fields are written: there is no field a secret could travel in.
    let keys: BTreeSet<_> = first.as_object().unwrap().keys().cloned().collect();
    let expected: BTreeSet<String> = [
        "kind",
        "trade_tag",
        "leg",
        "order_link_id",
        "ret_code",
        "message",
        "timeMs",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys, expected);
}

#[test]
fn lines_written_at_once_from_many_threads_are_never_interleaved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("execution-error.log");
    let log = Arc::new(ErrorLog::open(&path).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..50 {
                    log.append(&error(t * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A reopened log appends after what is there.
    ErrorLog::open(&path)
        .unwrap()
        .append(&error(99_999))
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let tags: BTreeSet<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is whole JSON");
            v["trade_tag"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text.lines().count(), 401);
    assert_eq!(tags.len(), 401);
}

#[test]
fn a_path_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    // A directory under a regular file cannot be made, even by root.
    let err = ErrorLog::open(file.join("logs/execution-error.log")).unwrap_err();
    assert!(err.to_string().contains("plain-file"), "{err}");
}
