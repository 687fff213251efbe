//! Crashes: `ritmo-local` processes on one DynamoDB table, killed with SIGKILL as a Lambda
//! instance dies, and a third process whose reconciler finds what they left behind.
//!
//! - The first is killed with its schedules pending (they lived in that process): after the
//!   grace period the survivor fires them again and every contact gets the step once.
//! - The second is killed between claim and outcome (its sends reached a stand-in Graph API that
//!   never answers): after the claim timeout the survivor records `unknown`, never sends that
//!   step again, and the runs go on to their second step.
//! - A background job (an archive's walk, an import's rows) killed mid-way is picked up by the
//!   next process from the cursor stored with it and ends as an uninterrupted one would.
//!
//! Needs the binary (`RITMO_LOCAL_BIN`) and the emulator (`RITMO_E2E_DYNAMODB_ENDPOINT`), both
//! set by `infra/test.sh`; `#[ignore]`d without them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ritmo_e2e::graph::Graph;
use ritmo_e2e::TestServer;
use serde_json::{json, Value};

const OK: &str = "1098765432";
const HANG: &str = "1098765439";

fn phones(prefix: u64, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("+55119{:08}", prefix + i as u64))
        .collect()
}

async fn channel(s: &TestServer, phone_number_id: &str) -> Value {
    s.post(
        "/v1/channels",
        json!({"name": format!("Número {phone_number_id}"), "phone_number_id": phone_number_id,
               "waba_id": "2098765432", "access_token": "t", "messages_per_second": 20}),
    )
    .await
    .ok()["id"]
        .clone()
}

/// An active sequence of template steps, each `(channel, delay in minutes)`.
async fn sequence(s: &TestServer, name: &str, steps: &[(&Value, u32)]) -> String {
    let sequence = s.post("/v1/sequences", json!({"name": name})).await.ok();
    let id = sequence["id"].as_str().unwrap().to_string();
    for (channel, minutes) in steps {
        s.post(
            &format!("/v1/sequences/{id}/steps"),
            json!({"channel_id": channel, "action": {"type": "template", "name": "aviso", "language": "pt_BR"},
                   "delay": {"amount": minutes, "unit": "minutes"}}),
        )
        .await
        .ok();
    }
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    id
}

async fn enroll(s: &TestServer, sequence: &str, phones: &[String]) {
    let contacts: Vec<Value> = phones.iter().map(|p| json!({"phone": p})).collect();
    let results = s
        .post(
            &format!("/v1/sequences/{sequence}/enrollments"),
            json!({"contacts": contacts}),
        )
        .await
        .ok();
    assert!(results["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "enrolled"));
}

async fn outcomes(s: &TestServer, sequence: &str, phone: &str) -> (String, Vec<String>) {
    let e = s
        .get(&format!(
            "/v1/sequences/{sequence}/enrollments/{}",
            phone.trim_start_matches('+')
        ))
        .await
        .ok();
    let history = e["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap().to_string())
        .collect();
    (e["status"].as_str().unwrap().to_string(), history)
}

/// The `ritmo-local` binary to start and kill (`RITMO_LOCAL_BIN`) and the emulator's endpoint:
/// `infra/test.sh` builds the one, starts the other and sets both.
fn local_bin_and_emulator() -> (String, String) {
    let bin = std::env::var("RITMO_LOCAL_BIN")
        .expect("RITMO_LOCAL_BIN is not set: this test starts and kills the ritmo-local binary");
    (
        bin,
        ritmo_aws::local::emulator_endpoint("RITMO_E2E_DYNAMODB_ENDPOINT"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator and the ritmo-local binary: infra/test.sh runs it"]
async fn killed_runtimes_leave_nothing_stuck_and_nothing_is_sent_twice() {
    let (bin, endpoint) = local_bin_and_emulator();
    let graph = Graph::start_hanging(&[], &[HANG]).await;
    let table = format!("ritmo-crash-{}", std::process::id());
    let base = [
        "--whatsapp-base-url",
        graph.url.as_str(),
        "--reconcile-every",
        "0",
    ];
    let mut pending = TestServer::spawn_process(&bin, &base, &endpoint, &table).await;
    let mut claiming = TestServer::spawn_process(&bin, &base, &endpoint, &table).await;
    let ok = channel(&pending, OK).await;
    let hang = channel(&pending, HANG).await;

    // Killed with its schedules pending: they were due a minute after enrolling.
    let later = sequence(&pending, "Pendentes", &[(&ok, 1)]).await;
    let waiting = phones(10_000_000, 6);
    enroll(&pending, &later, &waiting).await;
    let enrolled = Instant::now();
    pending.kill();

    // Killed between claim and outcome: the first step's sends never get an answer.
    let stuck = sequence(&claiming, "Sem resposta", &[(&hang, 0), (&ok, 0)]).await;
    let claimed = phones(20_000_000, 3);
    enroll(&claiming, &stuck, &claimed).await;
    let to = |number: &str| {
        graph
            .sent()
            .iter()
            .filter(|r| r.phone_number_id == number)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while to(HANG) < claimed.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        to(HANG),
        claimed.len(),
        "each claimed send reached the Graph API"
    );
    claiming.kill();

    // The survivor: a pass every second, a grace of 2 s, a claim timeout of 5 s.
    let survivor = TestServer::spawn_process(
        &bin,
        &[
            "--whatsapp-base-url",
            &graph.url,
            "--reconcile-every",
            "1",
            "--reconcile-grace",
            "2",
            "--claim-timeout",
            "5",
        ],
        &endpoint,
        &table,
    )
    .await;
    let all_to_ok = waiting.len() + claimed.len();
    let deadline = enrolled + Duration::from_secs(120);
    while to(OK) < all_to_ok && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut requests: HashMap<(String, String), usize> = HashMap::new();
    for r in graph.sent() {
        *requests.entry((r.phone_number_id, r.to)).or_default() += 1;
    }
    for phone in &waiting {
        let to = phone.trim_start_matches('+').to_string();
        assert_eq!(
            requests.get(&(OK.to_string(), to)),
            Some(&1),
            "{phone}: its lost schedule was fired again, once"
        );
        assert_eq!(
            outcomes(&survivor, &later, phone).await,
            ("completed".to_string(), vec!["sent".to_string()])
        );
    }
    for phone in &claimed {
        let to = phone.trim_start_matches('+').to_string();
        assert_eq!(
            requests.get(&(HANG.to_string(), to.clone())),
            Some(&1),
            "{phone}: the abandoned step was never sent again"
        );
        assert_eq!(
            requests.get(&(OK.to_string(), to)),
            Some(&1),
            "{phone}: the run went on to its second step"
        );
        assert_eq!(
            outcomes(&survivor, &stuck, phone).await,
            (
                "completed".to_string(),
                vec!["unknown".to_string(), "sent".to_string()]
            )
        );
    }
    println!(
        "crash: {} lost schedules fired again and {} abandoned claims recorded unknown, {:?} after enrolling",
        waiting.len(),
        claimed.len(),
        enrolled.elapsed()
    );
}

/// An archive job whose process is killed mid-walk: a new process picks the job up at start-up
/// from the cursor stored with it, and finishes with no enrollment left active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator and the ritmo-local binary: infra/test.sh runs it"]
async fn a_job_killed_mid_walk_resumes_after_restart_and_leaves_nothing_active() {
    let (bin, endpoint) = local_bin_and_emulator();
    // More than one page of the walk (200), so that a cursor is stored before the kill.
    const CONTACTS: usize = 250;
    let graph = Graph::start_hanging(&[], &[]).await;
    let table = format!("ritmo-crash-jobs-{}", std::process::id());
    let flags = [
        "--whatsapp-base-url",
        graph.url.as_str(),
        "--reconcile-every",
        "0",
    ];
    let mut first = TestServer::spawn_process(&bin, &flags, &endpoint, &table).await;
    let ok = channel(&first, OK).await;
    // An hour before the first step: nothing is sent while the job runs.
    let id = sequence(&first, "Arquivada", &[(&ok, 60)]).await;
    let everyone = phones(30_000_000, CONTACTS);
    for chunk in everyone.chunks(125) {
        enroll(&first, &id, chunk).await;
    }
    let started = first.delete(&format!("/v1/sequences/{id}")).await;
    assert_eq!(started.status, reqwest::StatusCode::ACCEPTED);
    let job = started.body["job_id"].as_str().unwrap().to_string();
    // Killed once the walk has stored its first cursor, before it ends.
    let deadline = Instant::now() + Duration::from_secs(300);
    let at_kill = loop {
        let read = first.get(&format!("/v1/jobs/{job}")).await.ok();
        if read["done"].as_u64().unwrap_or(0) > 0
            || read["status"] != "running" && read["status"] != "queued"
        {
            break read;
        }
        assert!(Instant::now() < deadline, "the job never started: {read}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    first.kill();
    assert_eq!(at_kill["status"], "running", "killed mid-walk: {at_kill}");

    let second = TestServer::spawn_process(&bin, &flags, &endpoint, &table).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let finished = loop {
        let read = second.get(&format!("/v1/jobs/{job}")).await.ok();
        if read["status"] != "queued" && read["status"] != "running" {
            break read;
        }
        assert!(Instant::now() < deadline, "the job never finished: {read}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["failed"], 0);
    let active = second
        .get(&format!("/v1/sequences/{id}/enrollments?status=active"))
        .await
        .ok();
    assert_eq!(active["items"], json!([]), "no enrollment left active");
    let stats = second.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["enrollments"]["exited"], CONTACTS, "{stats}");
    assert_eq!(
        stats["exit_reasons"]["sequence_archived"], CONTACTS,
        "{stats}"
    );
    println!(
        "crash: archive job killed at {} of {CONTACTS} enrollments done, resumed by a new process: {} done after the restart, none active",
        at_kill["done"], finished["done"]
    );
}

/// An import whose process is killed mid-file: a new process on the same table picks the job
/// up from its stored offset and ends with the counts of an uninterrupted import, each phone
/// enrolled once. 1,500 rows (`RITMO_CRASH_IMPORT_ROWS` for more: the emulator serves about 16
/// enrollments/s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator and the ritmo-local binary: infra/test.sh runs it"]
async fn an_import_killed_mid_file_resumes_after_restart_with_the_same_counts() {
    let (bin, endpoint) = local_bin_and_emulator();
    let rows: usize = std::env::var("RITMO_CRASH_IMPORT_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_500);
    let graph = Graph::start_hanging(&[], &[]).await;
    let table = format!("ritmo-crash-import-{}", std::process::id());
    let flags = [
        "--whatsapp-base-url",
        graph.url.as_str(),
        "--reconcile-every",
        "0",
    ];
    let mut first = TestServer::spawn_process(&bin, &flags, &endpoint, &table).await;
    let ok = channel(&first, OK).await;
    let id = sequence(&first, "Importada", &[(&ok, 60)]).await;
    // 1% of the rows not a phone, 1% a phone given before.
    let everyone = phones(40_000_000, rows);
    let mut file = String::from("phone;name\n");
    let (mut invalid, mut distinct) = (0, 0);
    for (i, phone) in everyone.iter().enumerate() {
        if i % 100 == 99 {
            invalid += 1;
            file.push_str(&format!("0{i};Inválido\n"));
        } else if i % 100 == 50 {
            file.push_str(&format!("{};Repetido\n", everyone[i - 1]));
        } else {
            distinct += 1;
            file.push_str(&format!("{phone};Cliente\n"));
        }
    }
    let started = first
        .client
        .post(format!("{}/v1/sequences/{id}/imports", first.base))
        .bearer_auth(&first.token)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), reqwest::StatusCode::ACCEPTED);
    let job = started.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Killed once a batch is stored, well before the end.
    let deadline = Instant::now() + Duration::from_secs(300);
    let at_kill = loop {
        let read = first.get(&format!("/v1/jobs/{job}")).await.ok();
        if read["done"].as_u64().unwrap_or(0) > 0
            || read["status"] != "running" && read["status"] != "queued"
        {
            break read;
        }
        assert!(
            Instant::now() < deadline,
            "the import never started: {read}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    first.kill();
    assert_eq!(at_kill["status"], "running", "killed mid-file: {at_kill}");

    let second = TestServer::spawn_process(&bin, &flags, &endpoint, &table).await;
    // The emulator enrolls about 16 rows/s: at least 10 minutes, more for a longer file.
    let deadline = Instant::now() + Duration::from_secs(600.max(rows as u64 / 8));
    let finished = loop {
        let read = second.get(&format!("/v1/jobs/{job}")).await.ok();
        if read["status"] != "queued" && read["status"] != "running" {
            break read;
        }
        assert!(
            Instant::now() < deadline,
            "the import never finished: {read}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (
            &finished["status"],
            &finished["total"],
            &finished["done"],
            &finished["failed"]
        ),
        (
            &json!("succeeded"),
            &json!(rows),
            &json!(rows - invalid),
            &json!(invalid)
        ),
        "{finished}"
    );
    let stats = second.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(
        stats["enrollments"]["active"], distinct,
        "each phone once: {stats}"
    );
    println!(
        "crash: import of {rows} rows killed at {} rows done, resumed by a new process: {} done, {} rejected, {distinct} enrolled once each",
        at_kill["done"], finished["done"], finished["failed"]
    );
}
