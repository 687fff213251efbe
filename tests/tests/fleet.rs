//! Many senders, one number: four independent `ritmo-local` runtimes (each with its own
//! scheduler, slots client and caches) share one DynamoDB table, as Lambda instances share the
//! production table. 400 contacts of one number at 10 messages/s come due in the same minute,
//! a hundred in each runtime, through a stand-in Graph API that answers 130429 above the rate.
//! Each contact gets the step exactly once, no sliding second holds more than 10 sends to the
//! number, nearly none is throttled, the backlog drains at the number's rate, every enrollment
//! completes, and a second number's ten contacts due meanwhile are not held up behind it.
//!
//! Runs on the DynamoDB store at `RITMO_E2E_DYNAMODB_ENDPOINT` (set by `infra/test.sh`). Its own
//! binary: it counts arrivals per second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ritmo_e2e::graph::Graph;
use ritmo_e2e::TestServer;
use serde_json::{json, Value};

const BUSY: &str = "1098765432";
const QUIET: &str = "1098765433";
const CONTACTS: usize = 400;
const RATE: usize = 10;

async fn one_step_sequence(s: &TestServer, name: &str, phone_number_id: &str) -> (String, String) {
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": name, "phone_number_id": phone_number_id, "waba_id": "2098765432",
                   "access_token": "t", "messages_per_second": RATE}),
        )
        .await
        .ok();
    let sequence = s.post("/v1/sequences", json!({"name": name})).await.ok();
    let id = sequence["id"].as_str().unwrap().to_string();
    s.post(
        &format!("/v1/sequences/{id}/steps"),
        json!({"channel_id": channel["id"], "action": {"type": "template", "name": "aviso", "language": "pt_BR"},
               "delay": {"amount": 0, "unit": "minutes"}}),
    )
    .await
    .ok();
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    (id, channel["id"].as_str().unwrap().to_string())
}

fn phones(prefix: u64, range: std::ops::Range<usize>) -> Vec<Value> {
    range
        .map(|i| json!({"phone": format!("+55119{:08}", prefix + i as u64)}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_runtimes_share_one_numbers_rate_and_each_contact_gets_the_step_once() {
    // `infra/test.sh` runs this binary by name with the endpoint set; in the workspace-wide
    // run before that, without it, there is nothing to share.
    let Ok(endpoint) = std::env::var("RITMO_E2E_DYNAMODB_ENDPOINT") else {
        eprintln!("skipped: RITMO_E2E_DYNAMODB_ENDPOINT is not set");
        return;
    };
    let graph = Graph::start(&[(BUSY, RATE), (QUIET, RATE)]).await;
    let table = format!("ritmo-fleet-{}", std::process::id());
    let mut runtimes = Vec::new();
    for _ in 0..4 {
        runtimes.push(
            TestServer::start_on_table(&["--whatsapp-base-url", &graph.url], &endpoint, &table)
                .await,
        );
    }
    let (busy, _) = one_step_sequence(&runtimes[0], "Campanha", BUSY).await;
    let (quiet, _) = one_step_sequence(&runtimes[0], "Suporte", QUIET).await;

    let start = Instant::now();
    let per_runtime = CONTACTS / runtimes.len();
    let enroll = |i: usize| {
        let s = &runtimes[i];
        let contacts = phones(10_000_000, i * per_runtime..(i + 1) * per_runtime);
        let path = format!("/v1/sequences/{busy}/enrollments");
        async move { s.post(&path, json!({"contacts": contacts})).await.ok() }
    };
    tokio::join!(enroll(0), enroll(1), enroll(2), enroll(3));
    let enrolled = start.elapsed();
    let quiet_due = Instant::now();
    runtimes[1]
        .post(
            &format!("/v1/sequences/{quiet}/enrollments"),
            json!({"contacts": phones(20_000_000, 0..10)}),
        )
        .await
        .ok();

    let ideal = Duration::from_secs_f64(CONTACTS as f64 / RATE as f64);
    let deadline = start + ideal.mul_f64(1.5);
    let accepted_to = |number: &str| {
        graph
            .sent()
            .iter()
            .filter(|r| r.accepted && r.phone_number_id == number)
            .count()
    };
    while accepted_to(BUSY) < CONTACTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained = start.elapsed();
    {
        let sent = graph.sent();
        let mut per_second = std::collections::BTreeMap::new();
        for r in &sent {
            let e = per_second
                .entry(r.at.duration_since(start).as_secs())
                .or_insert((0, 0));
            if r.accepted {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
        println!(
            "enrolled in {enrolled:?}; sends per second (accepted, throttled): {per_second:?}"
        );
    }

    let sent = graph.sent();
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for r in sent
        .iter()
        .filter(|r| r.accepted && r.phone_number_id == BUSY)
    {
        *accepted.entry(r.to.as_str()).or_default() += 1;
    }
    assert_eq!(
        accepted.len(),
        CONTACTS,
        "every contact got its message (after {drained:?})"
    );
    assert!(accepted.values().all(|n| *n == 1), "nobody got it twice");
    let busiest = graph.busiest_second(BUSY);
    assert!(
        busiest <= RATE,
        "{busiest} sends to the number within one second"
    );
    let throttled = sent.iter().filter(|r| !r.accepted).count();
    assert!(
        throttled * 100 < CONTACTS,
        "{throttled} of {} requests answered 130429",
        sent.len()
    );
    assert!(drained <= ideal.mul_f64(1.5), "drained in {drained:?}");

    let quiet_sent: Vec<_> = sent
        .iter()
        .filter(|r| r.accepted && r.phone_number_id == QUIET)
        .collect();
    assert_eq!(
        quiet_sent.len(),
        10,
        "the other number's contacts were all sent"
    );
    for r in quiet_sent {
        let late = r.at.duration_since(quiet_due);
        assert!(late <= Duration::from_secs(10), "sent {late:?} after due");
    }

    for runtime in &runtimes {
        let stats = runtime
            .get(&format!("/v1/sequences/{busy}/stats"))
            .await
            .ok();
        assert_eq!(stats["steps"][0]["sent"], CONTACTS, "{stats}");
    }
    let completed = runtimes[2]
        .get(&format!(
            "/v1/sequences/{busy}/enrollments?status=completed&limit=200"
        ))
        .await
        .ok();
    assert_eq!(completed["items"].as_array().unwrap().len(), 200);
    println!(
        "fleet: {CONTACTS} sends at {RATE}/s over 4 runtimes drained in {drained:?} (ideal {ideal:?}); \
         busiest second {busiest}; {throttled} throttled"
    );
}
