//! Sends benchmark (a load run, not a test: `#[ignore]`d, started by `infra/bench/sends.sh`):
//! `RITMO_BENCH_RUNTIMES` `ritmo-local` runtimes share one DynamoDB table on the emulator at
//! `RITMO_E2E_DYNAMODB_ENDPOINT`, all through one counting proxy, and send through a stand-in
//! Graph API that enforces each number's rate with 130429 answers.
//!
//! Two numbers at `RITMO_BENCH_RATE` messages/s: on the first, one sequence per runtime shares
//! `RITMO_BENCH_CONTACTS` contacts; on the second, one sequence has a tenth as many. Every
//! sequence is enrolled while paused and all are resumed at once, each by its runtime. Their
//! step has a window that opens at a whole minute after the resumes are expected to be done, so
//! that every step comes due at that instant and the requests of the resumes (replanning every
//! held step) are counted apart from the requests of sending. The run ends when every contact's
//! step was accepted by the Graph API; it prints the elapsed time from the opening against the
//! ideal (contacts / rate), the sends per second, the busiest sliding second per number, the
//! 130429 answers, and the DynamoDB requests per accepted send with their breakdown by operation.
//!
//! The runtimes run no periodic reconciler (`--reconcile-every 0`): a pass costs the same
//! 16 `Query`s whatever was sent, once a minute per runtime, which is not a cost of sending.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use ritmo_e2e::counting::CountingProxy;
use ritmo_e2e::graph::Graph;
use ritmo_e2e::TestServer;
use serde_json::{json, Value};

const FIRST: &str = "1098765432";
const SECOND: &str = "1098765433";
/// Contacts per enrollment request.
const BATCH: usize = 100;
/// DynamoDB requests a resume is assumed to make per held step, to tell when it will be done
/// (about 3.5 measured, with room for a slower emulator).
const RESUME_REQUESTS_PER_CONTACT: f64 = 6.0;

fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
        Err(_) => default,
    }
}

fn step_body(channel_id: &Value, window: Option<Value>) -> Value {
    let mut body = json!({"channel_id": channel_id,
        "action": {"type": "template", "name": "aviso", "language": "pt_BR"},
        "delay": {"amount": 0, "unit": "minutes"}});
    if let Some(window) = window {
        body["window"] = window;
    }
    body
}

/// A paused sequence of one template step on `channel_id` with the contacts `prefix + range`
/// enrolled: their steps are held. Returns the sequence and step ids.
async fn paused_sequence(
    s: &TestServer,
    name: &str,
    channel_id: &Value,
    prefix: u64,
    range: std::ops::Range<usize>,
) -> (String, String) {
    let sequence = s.post("/v1/sequences", json!({"name": name})).await.ok();
    let id = sequence["id"].as_str().unwrap().to_string();
    let step = s
        .post(
            &format!("/v1/sequences/{id}/steps"),
            step_body(channel_id, None),
        )
        .await
        .ok();
    let step_id = step["id"].as_str().unwrap().to_string();
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    s.post(&format!("/v1/sequences/{id}/pause"), json!({}))
        .await
        .ok();
    let phones: Vec<usize> = range.collect();
    for chunk in phones.chunks(BATCH) {
        let contacts: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"phone": format!("+55119{:08}", prefix + *i as u64)}))
            .collect();
        s.post(
            &format!("/v1/sequences/{id}/enrollments"),
            json!({"contacts": contacts}),
        )
        .await
        .ok();
    }
    (id, step_id)
}

fn per_send(requests: usize, sends: usize) -> String {
    if sends == 0 {
        "n/a (no send)".into()
    } else {
        format!("{:.2}", requests as f64 / sends as f64)
    }
}

/// `UpdateItem 12, GetItem 3`: the DynamoDB operations, without the other requests.
fn operations(counts: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(op, _)| !op.contains('.') && *op != "other")
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    parts.join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: infra/bench/sends.sh runs it against the emulator"]
async fn sends_benchmark() {
    let endpoint = std::env::var("RITMO_E2E_DYNAMODB_ENDPOINT")
        .expect("RITMO_E2E_DYNAMODB_ENDPOINT: the emulator (infra/bench/sends.sh starts one)");
    let contacts = env_or("RITMO_BENCH_CONTACTS", 400);
    let rate = env_or("RITMO_BENCH_RATE", 10);
    let runtimes_n = env_or("RITMO_BENCH_RUNTIMES", 4);
    assert!(contacts > 0 && rate > 0 && runtimes_n > 0);
    let second_contacts = (contacts / 10).max(1);
    let all = contacts + second_contacts;

    let set_up = Instant::now();
    let graph = Graph::start(&[(FIRST, rate), (SECOND, rate)]).await;
    let proxy = CountingProxy::start(&endpoint).await;
    let table = format!("ritmo-bench-sends-{}", std::process::id());
    let mut runtimes = Vec::new();
    for _ in 0..runtimes_n {
        runtimes.push(
            TestServer::start_on_table(
                &["--whatsapp-base-url", &graph.url, "--reconcile-every", "0"],
                &proxy.url,
                &table,
            )
            .await,
        );
    }
    let channel = |name: &str, phone_number_id: &str| {
        runtimes[0].post(
            "/v1/channels",
            json!({"name": name, "phone_number_id": phone_number_id, "waba_id": "2098765432",
                   "access_token": "t", "messages_per_second": rate}),
        )
    };
    let first = channel("Loja", FIRST).await.ok();
    let second = channel("Suporte", SECOND).await.ok();

    // Contacts split over the runtimes' sequences on the first number as evenly as they go.
    let (enrolling, before) = (Instant::now(), proxy.total());
    let mut sequences = Vec::new();
    for (i, s) in runtimes.iter().enumerate() {
        let range = contacts * i / runtimes_n..contacts * (i + 1) / runtimes_n;
        let name = format!("Campanha {i}");
        let (id, step) = paused_sequence(s, &name, &first["id"], 10_000_000, range).await;
        sequences.push((i, id, step, &first["id"]));
    }
    let on_second = 1 % runtimes_n;
    let s = &runtimes[on_second];
    let (id, step) =
        paused_sequence(s, "Suporte", &second["id"], 20_000_000, 0..second_contacts).await;
    sequences.push((on_second, id, step, &second["id"]));
    // The emulator's pace while enrolling tells how long the resumes will take.
    let emulator_rate =
        (proxy.total() - before) as f64 / enrolling.elapsed().as_secs_f64().max(0.001);
    let resumes_take = match std::env::var("RITMO_BENCH_DUE_IN") {
        Ok(seconds) => seconds.parse().expect("RITMO_BENCH_DUE_IN in seconds"),
        Err(_) => RESUME_REQUESTS_PER_CONTACT * all as f64 / emulator_rate + 5.0,
    };
    let opening = (Utc::now() + TimeDelta::milliseconds((resumes_take * 1000.0) as i64))
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap()
        + TimeDelta::minutes(1);
    // Closed but from the opening to the end of the next day (UTC): every held step is due then.
    let window = json!({"time_zone": "UTC", "days": {}, "exceptions": [
        {"date": opening.date_naive().to_string(),
         "ranges": [[opening.format("%H:%M").to_string(), "24:00"]]},
        {"date": opening.date_naive().succ_opt().unwrap().to_string(), "ranges": [["00:00", "24:00"]]},
    ]});
    for (runtime, id, step, channel_id) in &sequences {
        runtimes[*runtime]
            .put(
                &format!("/v1/sequences/{id}/steps/{step}"),
                step_body(channel_id, Some(window.clone())),
            )
            .await
            .ok();
    }
    println!(
        "set-up (not counted): {runtimes_n} runtimes, {} sequences, {all} contacts enrolled while paused, \
         {} DynamoDB requests in {:.1} s; the emulator served {emulator_rate:.0} requests/s while enrolling",
        sequences.len(),
        proxy.total(),
        set_up.elapsed().as_secs_f64(),
    );

    // Every sequence resumed at once, each by its own runtime: every step planned for the opening.
    proxy.reset();
    let resuming = Instant::now();
    let resumes = sequences.iter().map(|(runtime, id, _, _)| {
        let s = &runtimes[*runtime];
        let path = format!("/v1/sequences/{id}/resume");
        async move {
            let started = s.post(&path, json!({})).await;
            s.finish_job(started).await
        }
    });
    join_all(resumes).await;
    let resumed = resuming.elapsed();
    let (replanning, replanning_counts) = (proxy.total(), proxy.counts());
    proxy.reset();
    let sent_while_resuming = graph.sent().iter().filter(|r| r.accepted).count();
    let until_opening = (opening - Utc::now()).to_std().unwrap_or_default();
    let due = Instant::now() + until_opening;

    let accepted_to = |number: &str| {
        graph
            .sent()
            .iter()
            .filter(|r| r.accepted && r.phone_number_id == number)
            .count()
    };
    let ideal_first = Duration::from_secs_f64(contacts as f64 / rate as f64);
    let ideal_second = Duration::from_secs_f64(second_contacts as f64 / rate as f64);
    let timeout = until_opening
        + Duration::from_secs(env_or(
            "RITMO_BENCH_TIMEOUT",
            (ideal_first.as_secs() * 10).max(300) as usize,
        ) as u64);
    eprintln!(
        "  resumes returned in {:.1} s; steps due at {opening} (in {:.0} s)",
        resumed.as_secs_f64(),
        until_opening.as_secs_f64()
    );
    let mut progress = Instant::now();
    while (accepted_to(FIRST) < contacts || accepted_to(SECOND) < second_contacts)
        && resuming.elapsed() < resumed + timeout
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if progress.elapsed() >= Duration::from_secs(10) && Instant::now() > due {
            progress = Instant::now();
            eprintln!(
                "  {:>4.0} s after the opening: {}/{contacts} and {}/{second_contacts} accepted, {} DynamoDB requests",
                due.elapsed().as_secs_f64(),
                accepted_to(FIRST),
                accepted_to(SECOND),
                proxy.total()
            );
        }
    }
    // A send is recorded after the Graph API answered it: the count settles once the runtimes
    // have nothing left to write (two quiet seconds).
    let (mut total, mut quiet_since) = (proxy.total(), Instant::now());
    let settling = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2)
        && settling.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if proxy.total() != total {
            (total, quiet_since) = (proxy.total(), Instant::now());
        }
    }
    let (total, counts) = (proxy.total(), proxy.counts());
    let sent = graph.sent();

    let accepted: Vec<_> = sent.iter().filter(|r| r.accepted).collect();
    let last = |number: &str| {
        accepted
            .iter()
            .filter(|r| r.phone_number_id == number)
            .map(|r| r.at.saturating_duration_since(due))
            .max()
            .unwrap_or_default()
    };
    let (last_first, last_second) = (last(FIRST), last(SECOND));
    let elapsed = last_first.max(last_second);
    let mut per_contact: HashMap<(&str, &str), usize> = HashMap::new();
    for r in &accepted {
        *per_contact
            .entry((r.phone_number_id.as_str(), r.to.as_str()))
            .or_default() += 1;
    }
    let twice = per_contact.values().filter(|n| **n > 1).count();
    let throttled = |number: &str| {
        sent.iter()
            .filter(|r| !r.accepted && r.phone_number_id == number)
            .count()
    };
    let (first_sent, second_sent) = (accepted_to(FIRST), accepted_to(SECOND));
    let sends = first_sent + second_sent;
    let per_second = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(f64::EPSILON);

    println!("sends benchmark: {runtimes_n} runtimes on one table, two numbers at {rate} msg/s");
    println!(
        "contacts: {contacts} on number 1 ({runtimes_n} sequences), {second_contacts} on number 2 (1 sequence)"
    );
    println!(
        "accepted sends: {first_sent}/{contacts} on number 1, {second_sent}/{second_contacts} on number 2; contacts sent twice: {twice}"
    );
    println!(
        "elapsed (steps due to last accepted send): {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "ideal (contacts / rate): {:.1} s on number 1, {:.1} s on number 2",
        ideal_first.as_secs_f64(),
        ideal_second.as_secs_f64()
    );
    println!(
        "sends/s: number 1 {:.2} (last after {:.2} s), number 2 {:.2} (last after {:.2} s), overall {:.2}",
        per_second(first_sent, last_first),
        last_first.as_secs_f64(),
        per_second(second_sent, last_second),
        last_second.as_secs_f64(),
        per_second(sends, elapsed)
    );
    println!(
        "busiest sliding second (requests to the number): number 1 {}, number 2 {} (rate {rate})",
        graph.busiest_second(FIRST),
        graph.busiest_second(SECOND)
    );
    println!(
        "130429 answers: number 1 {}, number 2 {}",
        throttled(FIRST),
        throttled(SECOND)
    );
    println!(
        "DynamoDB requests per send: {} ({total} requests from the resumes' return to the last send, {} sends{}; \
         the resumes not included)",
        per_send(total, sends - sent_while_resuming),
        sends - sent_while_resuming,
        if sent_while_resuming > 0 {
            format!(
                "; {sent_while_resuming} sends went out before the resumes returned and are counted with them"
            )
        } else {
            String::new()
        }
    );
    println!(
        "DynamoDB requests by operation, sending: {}",
        operations(&counts)
    );
    println!(
        "DynamoDB requests/s at the emulator while sending: {:.0}",
        per_second(total, elapsed)
    );
    println!(
        "resumes (replanning every held step, counted apart): {replanning} DynamoDB requests in {:.2} s, {} per contact",
        resumed.as_secs_f64(),
        per_send(replanning, all)
    );
    println!(
        "DynamoDB requests by operation, resumes: {}",
        operations(&replanning_counts)
    );
    println!(
        "DynamoDB requests per send, resumes included: {}",
        per_send(total + replanning, sends)
    );

    assert_eq!(
        (first_sent, second_sent),
        (contacts, second_contacts),
        "every contact's step was accepted within {timeout:?} of the resumes"
    );
    assert_eq!(twice, 0, "no contact got the step twice");
}

/// Runs the futures concurrently on this task and waits for all of them (the crate has no
/// `futures` dependency, and the futures borrow the runtimes, so they cannot be spawned).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut pending: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
