use super::*;
use crate::resp::auth::{Password, NOAUTH};
use crate::resp::commands::{execute, parse_i64, Ctx, Spec};
use crate::resp::Limits;
use crate::store::{Cursor, Effect, KvState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// A role with a plain keyspace: keyspace commands apply their effects at
/// once; `WAIT n …` defers, and its deferred work answers `n`.
#[derive(Default)]
struct TestRole {
    keyspace: Mutex<KvState>,
    limits: Limits,
    max_query_bytes: usize,
    max_output_bytes: usize,
    password: Option<Password>,
    /// Refuses writes as a standby does.
    read_only: bool,
    away: AtomicBool,
    fail_settle: AtomicBool,
    locks: AtomicU64,
    commands: AtomicU64,
    /// Calls of `between_commands`.
    betweens: AtomicU64,
    /// Deferred work (`WAIT 999 …`, which never ends) dropped unfinished.
    dropped: AtomicBool,
}

const REFUSED: &str = "READONLY no writes here";

impl TestRole {
    fn new() -> TestRole {
        TestRole {
            max_query_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
            ..TestRole::default()
        }
    }
}

impl Role for TestRole {
    type Locked<'r> = MutexGuard<'r, KvState>;
    type Conn = ();
    type Tx<'q> = Vec<Effect<'q>>;
    type Pending = ();
    type Unsettled = &'static str;
    type Deferred = i64;

    fn settings(&self) -> Settings<'_> {
        Settings {
            limits: &self.limits,
            max_query_bytes: self.max_query_bytes,
            max_output_bytes: self.max_output_bytes,
            password: self.password.as_ref(),
            role_name: "master",
        }
    }

    fn kv<'a>(st: &'a mut MutexGuard<'_, KvState>) -> &'a mut KvState {
        st
    }

    fn lock(&self) -> MutexGuard<'_, KvState> {
        self.locks.fetch_add(1, Ordering::SeqCst);
        self.keyspace.lock().unwrap()
    }

    fn pending(_st: &MutexGuard<'_, KvState>) {}

    async fn settle(&self, _pending: ()) -> Result<(), &'static str> {
        match self.fail_settle.load(Ordering::SeqCst) {
            true => Err("ERR not acknowledged"),
            false => Ok(()),
        }
    }

    fn turned_away(&self) -> Option<&'static str> {
        self.away
            .load(Ordering::SeqCst)
            .then_some("ERR gone elsewhere")
    }

    fn refusal(&self, spec: &Spec) -> Option<&'static str> {
        (self.read_only && spec.access.is_write()).then_some(REFUSED)
    }

    fn run(
        &self,
        st: &mut MutexGuard<'_, KvState>,
        conn: &mut (),
        call: Call<'_>,
        out: &mut Vec<u8>,
    ) -> Step<i64> {
        if call.spec.cmd == Cmd::Wait {
            return Step::Then(parse_i64(&call.args[1]).unwrap_or(-1));
        }
        self.run_queued(st, &mut Vec::new(), conn, call, out);
        Step::Next
    }

    fn begin_exec<'q>(&self, _st: &mut MutexGuard<'_, KvState>) -> Vec<Effect<'q>> {
        Vec::new()
    }

    fn run_queued<'q>(
        &self,
        st: &mut MutexGuard<'_, KvState>,
        tx: &mut Vec<Effect<'q>>,
        _conn: &(),
        call: Call<'q>,
        out: &mut Vec<u8>,
    ) {
        if call.spec.scope() == Scope::Server {
            return out.error("ERR a server command");
        }
        let start = tx.len();
        let ctx = Ctx {
            dbs: &st.dbs,
            db: call.db,
            now_unix_ms: call.now_unix_ms,
        };
        execute(call.spec, call.args, &ctx, out, tx);
        for e in &tx[start..] {
            st.apply_unlogged(std::slice::from_ref(e), &mut Cursor::default());
        }
    }

    fn end_exec(
        &self,
        _st: &mut MutexGuard<'_, KvState>,
        _tx: Vec<Effect<'_>>,
        _conn: &mut (),
        _out: &mut Vec<u8>,
        _mark: usize,
    ) {
    }

    async fn run_deferred(
        &self,
        work: i64,
        _conn: &mut (),
        _shutdown: &mut Shutdown,
        out: &mut Vec<u8>,
    ) {
        if work == 999 {
            struct Dropped<'a>(&'a AtomicBool);
            impl Drop for Dropped<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let _guard = Dropped(&self.dropped);
            std::future::pending::<()>().await;
        }
        out.int(work);
    }

    fn commands_run(&self, n: u64) {
        self.commands.fetch_add(n, Ordering::SeqCst);
    }

    fn between_commands(&self, _st: &mut MutexGuard<'_, KvState>) {
        self.betweens.fetch_add(1, Ordering::SeqCst);
    }
}

/// A request as a multibulk frame.
fn req(line: &str) -> Vec<u8> {
    let mut b = format!("*{}\r\n", line.split(' ').count()).into_bytes();
    for a in line.split(' ') {
        b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    b
}

fn reqs(lines: &[&str]) -> Vec<u8> {
    lines.iter().flat_map(|l| req(l)).collect()
}

/// Runs a session of `role` with `input` already sent; returns what it
/// answered before it closed.
async fn exchange(role: &TestRole, input: &[u8]) -> String {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let info = ClientInfo::new(1, "test".into(), role.password.as_ref());
    let session = serve(role, server, info, (), Shutdown::never());
    let talk = async {
        // The session may close before it has read everything.
        let _ = client.write_all(input).await;
        let _ = client.shutdown().await;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        got
    };
    let (r, got) = tokio::join!(session, talk);
    r.unwrap();
    String::from_utf8(got).unwrap()
}

fn err(text: &str) -> String {
    format!("-{text}\r\n")
}

#[tokio::test]
async fn a_pipeline_runs_under_one_lock_and_replies_in_order() {
    let role = TestRole::new();
    let got = exchange(&role, &reqs(&["SET a 1", "GET a", "INCR a", "PING"])).await;
    assert_eq!(got, "+OK\r\n$1\r\n1\r\n:2\r\n+PONG\r\n");
    assert_eq!(role.locks.load(Ordering::SeqCst), 1);
    assert_eq!(role.commands.load(Ordering::SeqCst), 4);
    // Another writer may come in between two commands, never inside one.
    assert_eq!(role.betweens.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_transaction_is_one_command_for_another_writer() {
    let role = TestRole::new();
    let got = exchange(&role, &reqs(&["MULTI", "SET a 1", "INCR a", "EXEC"])).await;
    assert_eq!(got, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n");
    // Between MULTI, the two queued commands and EXEC: EXEC runs them
    // together, with nobody let in.
    assert_eq!(role.betweens.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_output_limit_splits_a_batch() {
    let role = TestRole {
        max_output_bytes: "+PONG\r\n".len(),
        ..TestRole::new()
    };
    let got = exchange(&role, &reqs(&["PING", "PING", "PING"])).await;
    assert_eq!(got, "+PONG\r\n".repeat(3));
    assert_eq!(role.locks.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn multi_queues_and_exec_runs_in_order() {
    let role = TestRole::new();
    let input = reqs(&[
        "MULTI",
        "SET a 1",
        "CLIENT SETNAME me",
        "INCR a",
        "CLIENT GETNAME",
        "QUIT",
        "EXEC",
        "DISCARD",
        "EXEC",
        "MULTI",
        "MULTI",
        "SET b 1",
        "DISCARD",
        "GET b",
    ]);
    let got = exchange(&role, &input).await;
    let want = [
        "+OK\r\n",
        &"+QUEUED\r\n".repeat(5),
        "*5\r\n+OK\r\n+OK\r\n:2\r\n$2\r\nme\r\n+OK\r\n",
        &err("ERR DISCARD without MULTI"),
        &err("ERR EXEC without MULTI"),
        "+OK\r\n",
        &err("ERR MULTI calls can not be nested"),
        "+QUEUED\r\n+OK\r\n$-1\r\n",
    ]
    .concat();
    assert_eq!(got, want);
}

#[tokio::test]
async fn errors_while_queueing_abort_exec() {
    let role = TestRole::new();
    for bad in ["GET", "NOSUCH x"] {
        let got = exchange(&role, &reqs(&["MULTI", "SET a 1", bad, "EXEC", "GET a"])).await;
        assert!(got.starts_with("+OK\r\n+QUEUED\r\n-ERR "), "{got}");
        assert!(
            got.ends_with(
                "-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n"
            ),
            "{got}"
        );
    }
}

#[tokio::test]
async fn a_refused_write_is_refused_in_and_out_of_multi() {
    let role = TestRole {
        read_only: true,
        ..TestRole::new()
    };
    let got = exchange(
        &role,
        &reqs(&[
            "SET a 1", "GET a", "MULTI", "DEL a", "GET a", "EXEC", "PING",
        ]),
    )
    .await;
    let want = [
        &err(REFUSED),
        "$-1\r\n+OK\r\n",
        &err(REFUSED),
        "+QUEUED\r\n",
        &err("EXECABORT Transaction discarded because of previous errors."),
        "+PONG\r\n",
    ]
    .concat();
    assert_eq!(got, want);
}

/// Sends MULTI, `n` PINGs and EXEC while reading what comes back.
async fn queue_pings(role: &TestRole, n: usize) -> String {
    let (client, server) = tokio::io::duplex(1 << 16);
    let info = ClientInfo::new(1, "test".into(), None);
    let session = serve(role, server, info, (), Shutdown::never());
    let (mut rd, mut wr) = tokio::io::split(client);
    let send = async move {
        wr.write_all(&req("MULTI")).await.unwrap();
        let ping = req("PING");
        let mut batch = Vec::new();
        for _ in 0..n {
            batch.extend_from_slice(&ping);
            if batch.len() > 1 << 16 {
                wr.write_all(&batch).await.unwrap();
                batch.clear();
            }
        }
        batch.extend_from_slice(&reqs(&["EXEC", "PING"]));
        wr.write_all(&batch).await.unwrap();
        wr.shutdown().await.unwrap();
    };
    let recv = async move {
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await.unwrap();
        got
    };
    let (r, (), got) = tokio::join!(session, send, recv);
    r.unwrap();
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn a_transaction_queues_at_most_the_limit_for_every_role() {
    for read_only in [false, true] {
        let role = TestRole {
            read_only,
            ..TestRole::new()
        };
        let full = queue_pings(&role, MAX_QUEUED_COMMANDS).await;
        let replies = format!(
            "*{MAX_QUEUED_COMMANDS}\r\n{}+PONG\r\n",
            "+PONG\r\n".repeat(MAX_QUEUED_COMMANDS)
        );
        assert!(full.ends_with(&replies), "the limit itself fits");
        let over = queue_pings(&role, MAX_QUEUED_COMMANDS + 1).await;
        let tail = [
            "+QUEUED\r\n",
            &err("ERR too many commands in one transaction (the limit is 100000)"),
            &err("EXECABORT Transaction discarded because of previous errors."),
            "+PONG\r\n",
        ]
        .concat();
        assert!(over.ends_with(&tail), "{}", &over[over.len() - 200..]);
        assert_eq!(over.matches("+QUEUED").count(), MAX_QUEUED_COMMANDS);
    }
}

#[tokio::test]
async fn the_auth_gate_comes_before_everything_but_auth_and_quit() {
    let role = TestRole {
        password: Some(Password::from_bytes(b"pw")),
        ..TestRole::new()
    };
    let got = exchange(
        &role,
        &reqs(&["GET a", "MULTI", "AUTH pw", "GET a", "QUIT", "PING"]),
    )
    .await;
    let want = [&err(NOAUTH), &err(NOAUTH), "+OK\r\n$-1\r\n+OK\r\n"].concat();
    assert_eq!(got, want, "QUIT closes: PING is not answered");
}

#[tokio::test]
async fn deferred_work_answers_after_the_replies_before_it() {
    let role = TestRole::new();
    let got = exchange(&role, &reqs(&["SET a 1", "WAIT 7 0", "GET a"])).await;
    assert_eq!(got, "+OK\r\n:7\r\n$1\r\n1\r\n");
    assert_eq!(
        role.locks.load(Ordering::SeqCst),
        2,
        "the work runs unlocked"
    );
}

#[tokio::test]
async fn a_batch_that_cannot_settle_answers_why_and_closes() {
    let role = TestRole::new();
    role.fail_settle.store(true, Ordering::SeqCst);
    let got = exchange(&role, &reqs(&["SET a 1", "GET a"])).await;
    assert_eq!(got, err("ERR not acknowledged"));
}

#[tokio::test]
async fn a_turned_away_client_is_told_before_anything_runs() {
    let role = TestRole::new();
    role.away.store(true, Ordering::SeqCst);
    let got = exchange(&role, &reqs(&["SET a 1"])).await;
    assert_eq!(got, err("ERR gone elsewhere"));
    assert_eq!(role.locks.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn protocol_errors_and_the_query_buffer_limit_close_the_session() {
    let role = TestRole::new();
    let got = exchange(&role, b"PING\r\n*1\r\n$x\r\nPING\r\n").await;
    assert!(got.starts_with("+PONG\r\n-ERR Protocol error"), "{got}");
    assert_eq!(got.matches("\r\n").count(), 2, "{got}");
    let role = TestRole {
        max_query_bytes: 64,
        ..TestRole::new()
    };
    let mut big = req(&format!("SET k {}", "v".repeat(100)));
    big.truncate(80);
    let got = exchange(&role, &big).await;
    assert_eq!(
        got,
        err("ERR Protocol error: request larger than the query buffer limit of 64 bytes")
    );
}

#[tokio::test]
async fn shutdown_ends_an_idle_session() {
    let role = TestRole::new();
    let (tx, rx) = watch::channel(false);
    let (mut client, server) = tokio::io::duplex(1 << 10);
    let info = ClientInfo::new(1, "test".into(), None);
    let session = serve(&role, server, info, (), Shutdown::on(rx));
    let talk = async {
        client.write_all(&req("PING")).await.unwrap();
        let mut pong = [0u8; 7];
        client.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
        tx.send(true).unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        rest
    };
    let (r, rest) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(session, talk)
    })
    .await
    .expect("the session ends at shutdown");
    r.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_client_that_leaves_during_deferred_work_drops_it() {
    let role = TestRole::new();
    // The client sends more and leaves while the work waits: the session
    // ends instead of waiting forever, and the work is dropped unfinished.
    let got = tokio::time::timeout(
        Duration::from_secs(10),
        exchange(&role, &reqs(&["PING", "WAIT 999 0", "PING"])),
    )
    .await
    .expect("the session ends when the client leaves");
    assert_eq!(got, "+PONG\r\n");
    assert!(role.dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn watch_aborts_exec_after_a_change_and_is_forgotten_after_it() {
    let role = TestRole::new();
    let got = exchange(
        &role,
        &reqs(&[
            "WATCH a b",
            "SET a 1",
            "MULTI",
            "WATCH c",
            "GET a",
            "EXEC",
            "WATCH a",
            "MULTI",
            "UNWATCH",
            "EXEC",
            "WATCH a",
            "UNWATCH",
            "SET a 2",
            "MULTI",
            "DISCARD",
            "HELLO 3",
        ]),
    )
    .await;
    assert_eq!(
        got,
        "+OK\r\n+OK\r\n+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*-1\r\n\
         +OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n\
         +OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n-NOPROTO unsupported protocol version\r\n"
    );
    assert!(
        role.keyspace.lock().unwrap().watches.is_empty(),
        "nothing stays watched once the client is gone"
    );
}

#[tokio::test]
async fn a_read_only_role_accepts_watch() {
    let role = TestRole {
        read_only: true,
        ..TestRole::new()
    };
    let got = exchange(&role, &reqs(&["WATCH a", "MULTI", "GET a", "EXEC"])).await;
    assert_eq!(got, "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$-1\r\n");
}

#[tokio::test]
async fn a_client_that_leaves_unwatches() {
    let role = TestRole::new();
    let got = exchange(&role, &reqs(&["WATCH a b c"])).await;
    assert_eq!(got, "+OK\r\n");
    assert!(role.keyspace.lock().unwrap().watches.is_empty());
}
