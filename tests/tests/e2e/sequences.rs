//! Sequences end to end against `ritmo-local --manual-clock`: the outbox and the schedules
//! show what was sent, to whom and when.

use reqwest::{Method, StatusCode};
use ritmo_core::common::tenant::Role;
use ritmo_e2e::{Reply, TestServer};
use serde_json::{json, Value};

const SP_WEEKDAYS: &str = "09:00-18:00";

fn weekdays_window() -> Value {
    let range = json!([SP_WEEKDAYS.split('-').collect::<Vec<_>>()]);
    json!({"time_zone": "America/Sao_Paulo",
           "days": {"mon": range, "tue": range, "wed": range, "thu": range, "fri": range}})
}

fn template_step(
    channel: &str,
    name: &str,
    parameters: Value,
    amount: u32,
    unit: &str,
    window: Option<Value>,
) -> Value {
    let mut step = json!({
        "channel_id": channel,
        "action": {"type": "template", "name": name, "language": "pt_BR", "parameters": parameters},
        "delay": {"amount": amount, "unit": unit},
    });
    if let Some(window) = window {
        step["window"] = window;
    }
    step
}

/// A channel with approved templates: `promo_nov` (1 parameter, marketing), `followup` and
/// `followup_v2` (none, utility).
async fn channel(s: &TestServer) -> String {
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": "Loja", "phone_number_id": "1098765432", "waba_id": "2098765432",
                   "display_phone": "+55 11 4000-0000", "access_token": "EAAG-test-token"}),
        )
        .await
        .ok();
    let id = channel["id"].as_str().unwrap().to_string();
    for (name, category, parameters) in [
        ("promo_nov", "MARKETING", 1),
        ("followup", "UTILITY", 0),
        ("followup_v2", "UTILITY", 0),
    ] {
        s.post(
            "/_dev/templates",
            json!({"channel_id": id, "name": name, "language": "pt_BR", "category": category,
                   "status": "APPROVED", "body_parameters": parameters}),
        )
        .await
        .ok();
    }
    id
}

/// Creates and activates a sequence with these steps; returns its id and the step ids.
async fn sequence(s: &TestServer, steps: Vec<Value>) -> (String, Vec<String>) {
    let sequence = s
        .post(
            "/v1/sequences",
            json!({"name": "Boas-vindas", "time_zone": "America/Sao_Paulo", "exit_on_reply": true}),
        )
        .await
        .ok();
    let id = sequence["id"].as_str().unwrap().to_string();
    let mut step_ids = Vec::new();
    for step in steps {
        let created = s
            .post(&format!("/v1/sequences/{id}/steps"), step)
            .await
            .ok();
        step_ids.push(created["id"].as_str().unwrap().to_string());
    }
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    (id, step_ids)
}

async fn enroll(s: &TestServer, sequence: &str, contacts: Value) -> Vec<Value> {
    let reply = s
        .post(
            &format!("/v1/sequences/{sequence}/enrollments"),
            json!({"contacts": contacts}),
        )
        .await
        .ok();
    reply["results"].as_array().unwrap().clone()
}

fn ana() -> Value {
    json!([{"phone": "+55 11 98765-4321", "name": "Ana", "attributes": {"coupon": "X1"}}])
}

async fn three_step_sequence(s: &TestServer) -> (String, String, Vec<String>) {
    let channel = channel(s).await;
    let window = Some(weekdays_window());
    let (id, steps) = sequence(
        s,
        vec![
            template_step(
                &channel,
                "promo_nov",
                json!(["{{contact.name}}"]),
                0,
                "minutes",
                window.clone(),
            ),
            template_step(&channel, "followup", json!([]), 1, "days", window.clone()),
            template_step(&channel, "followup", json!([]), 2, "hours", window),
        ],
    )
    .await;
    (channel, id, steps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friday_evening_enrollment_sends_step_two_monday_at_nine_and_step_three_two_hours_later() {
    // Friday 2026-11-20 17:50 in São Paulo (UTC-3).
    let s = TestServer::manual_at("2026-11-20T20:50:00Z").await;
    let (_, id, steps) = three_step_sequence(&s).await;

    let results = enroll(&s, &id, ana()).await;
    assert_eq!(results[0]["status"], "enrolled");
    assert_eq!(results[0]["phone"], "+5511987654321");
    assert_eq!(results[0]["next_send_at"], "2026-11-20T20:50:00Z");

    s.clock_to("2026-11-25T00:00:00Z").await;

    let outbox = s.outbox().await;
    let at: Vec<&str> = outbox.iter().map(|m| m["at"].as_str().unwrap()).collect();
    assert_eq!(
        at,
        [
            "2026-11-20T20:50:00Z",
            "2026-11-23T12:00:00Z",
            "2026-11-23T14:00:00Z"
        ]
    );
    assert_eq!(outbox[0]["kind"], "template");
    assert_eq!(outbox[0]["to"], "5511987654321");
    assert_eq!(outbox[0]["request"]["template"]["name"], "promo_nov");
    assert_eq!(
        outbox[0]["request"]["template"]["components"][0]["parameters"][0]["text"],
        "Ana"
    );
    assert_eq!(outbox[1]["request"]["template"]["name"], "followup");

    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "completed");
    let history = enrollment["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|h| h["outcome"] == "sent"));
    assert_eq!(history[2]["step_id"], steps[2].as_str());
    assert!(s.schedules().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_contact_gets_no_further_step_and_its_schedule_is_gone() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    enroll(&s, &id, ana()).await;
    s.advance(1).await;
    assert_eq!(s.outbox().await.len(), 1);
    let pending = s.schedules().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["input"]["phone"], "+5511987654321");

    // Any writing of the same number names the same enrollment.
    let removed = s
        .delete(&format!("/v1/sequences/{id}/enrollments/5511987654321"))
        .await
        .ok();
    assert_eq!(removed["status"], "removed");
    assert!(s.schedules().await.is_empty());

    s.advance(7 * 24 * 3600).await;
    assert_eq!(s.outbox().await.len(), 1);
    let listed = s
        .get(&format!("/v1/sequences/{id}/enrollments?status=removed"))
        .await
        .ok();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_schedule_delivered_twice_or_fifty_times_at_once_sends_once() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, _) = sequence(
        &s,
        vec![template_step(
            &channel,
            "followup",
            json!([]),
            1,
            "hours",
            None,
        )],
    )
    .await;
    enroll(&s, &id, ana()).await;
    let schedule = s.schedules().await.remove(0);
    let input = schedule["input"].clone();

    let s = std::sync::Arc::new(s);
    let fires: Vec<_> = (0..50)
        .map(|_| {
            let (s, input) = (s.clone(), input.clone());
            tokio::spawn(async move { s.post("/_dev/fire", input).await })
        })
        .collect();
    for fire in fires {
        assert_eq!(fire.await.unwrap().status, StatusCode::NO_CONTENT);
    }
    // The scheduler's own delivery comes later, and a repeat after that.
    s.advance(3600).await;
    s.post("/_dev/fire", input.clone()).await;

    assert_eq!(s.outbox().await.len(), 1);
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["history"].as_array().unwrap().len(), 1);
    assert_eq!(enrollment["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_sequence_holds_the_due_step_and_resume_outside_hours_waits_for_the_opening() {
    // Monday 2026-11-23 10:00 in São Paulo.
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let window = Some(weekdays_window());
    let (id, _) = sequence(
        &s,
        vec![
            template_step(
                &channel,
                "followup",
                json!([]),
                0,
                "minutes",
                window.clone(),
            ),
            template_step(&channel, "followup_v2", json!([]), 1, "hours", window),
        ],
    )
    .await;
    enroll(&s, &id, ana()).await;
    s.advance(1).await;
    assert_eq!(s.outbox().await.len(), 1);

    s.post(&format!("/v1/sequences/{id}/pause"), json!({}))
        .await
        .ok();
    // Step 2 comes due at 11:00 while paused: held, nothing sent.
    s.clock_to("2026-11-23T23:00:00Z").await;
    assert_eq!(s.outbox().await.len(), 1);
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "active");
    assert_eq!(enrollment["next_send_at"], Value::Null);

    // Resumed at 20:00 local, outside the window: sent at Tuesday's opening, not now.
    let resumed = s
        .post(&format!("/v1/sequences/{id}/resume"), json!({}))
        .await;
    // Active at once; the held step is planned by the job.
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["status"], "active");
    let job = s.finish_job(resumed).await;
    assert_eq!(
        (&job["kind"], &job["status"], &job["done"], &job["failed"]),
        (
            &json!("resume_sequence"),
            &json!("succeeded"),
            &json!(1),
            &json!(0)
        )
    );
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["next_send_at"], "2026-11-24T12:00:00Z");
    s.advance(1).await;
    assert_eq!(s.outbox().await.len(), 1);

    s.clock_to("2026-11-25T00:00:00Z").await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1]["at"], "2026-11-24T12:00:00Z");
    assert_eq!(outbox[1]["request"]["template"]["name"], "followup_v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_edit_reaches_a_contact_already_enrolled() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, steps) = sequence(
        &s,
        vec![
            template_step(&channel, "followup", json!([]), 0, "minutes", None),
            template_step(&channel, "followup", json!([]), 1, "hours", None),
        ],
    )
    .await;
    enroll(&s, &id, ana()).await;
    s.advance(1).await;
    s.put(
        &format!("/v1/sequences/{id}/steps/{}", steps[1]),
        template_step(&channel, "followup_v2", json!([]), 1, "hours", None),
    )
    .await
    .ok();
    s.advance(3600).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1]["request"]["template"]["name"], "followup_v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_step_is_skipped_and_the_run_goes_on() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, steps) = sequence(
        &s,
        vec![
            template_step(&channel, "followup", json!([]), 0, "minutes", None),
            template_step(
                &channel,
                "promo_nov",
                json!(["{{contact.name}}"]),
                1,
                "hours",
                None,
            ),
            template_step(&channel, "followup_v2", json!([]), 2, "hours", None),
        ],
    )
    .await;
    enroll(&s, &id, ana()).await;
    s.advance(1).await;
    assert_eq!(
        s.delete(&format!("/v1/sequences/{id}/steps/{}", steps[1]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    s.advance(24 * 3600).await;

    let outbox = s.outbox().await;
    let names: Vec<&str> = outbox
        .iter()
        .map(|m| m["request"]["template"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["followup", "followup_v2"]);
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    let outcomes: Vec<&str> = enrollment["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["sent", "skipped", "sent"]);
    assert_eq!(enrollment["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_removal_ends_every_active_run_in_a_job_that_is_listed_and_cannot_be_cancelled_once_finished(
) {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    let contacts: Vec<Value> = (0..60)
        .map(|i| json!({"phone": format!("+55119000{i:05}"), "name": "C"}))
        .collect();
    enroll(&s, &id, json!(contacts)).await;
    enroll(&s, &id, ana()).await;
    let missing = s.delete(&format!("/v1/sequences/{id}/enrollments")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["errors"][0]["field"], "status");
    let removal = s
        .delete(&format!("/v1/sequences/{id}/enrollments?status=active"))
        .await;
    let job = s.finish_job(removal).await;
    assert_eq!(
        (
            &job["kind"],
            &job["status"],
            &job["total"],
            &job["done"],
            &job["failed"]
        ),
        (
            &json!("remove_enrollments"),
            &json!("succeeded"),
            &json!(61),
            &json!(61),
            &json!(0)
        )
    );
    assert_eq!(job["sequence_id"], id.as_str());
    let active = s
        .get(&format!("/v1/sequences/{id}/enrollments?status=active"))
        .await
        .ok();
    assert_eq!(active["items"], json!([]));
    let ana = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(ana["status"], "removed");
    assert!(s.schedules().await.is_empty());
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["enrollments"]["removed"], 61, "{stats}");

    // Listed newest first; the error file is CSV with its header only.
    let archived = s.delete(&format!("/v1/sequences/{id}")).await;
    let archive = s.finish_job(archived).await;
    assert_eq!(archive["total"], 0);
    let jobs = s.get("/v1/jobs").await.ok();
    let listed: Vec<&Value> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["id"])
        .collect();
    assert_eq!(listed, [&archive["id"], &job["id"]]);
    let csv = s
        .client
        .get(format!(
            "{}/v1/jobs/{}/errors.csv",
            s.base,
            job["id"].as_str().unwrap()
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(csv.text().await.unwrap(), "phone,reason\n");
    let cancel = s
        .delete(&format!("/v1/jobs/{}", job["id"].as_str().unwrap()))
        .await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);
    let unknown = s.get("/v1/jobs/01JD8X4Z2W6Q4T1N7K3M5P9R2B").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_sequence_sends_nothing_more() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    enroll(&s, &id, ana()).await;
    s.advance(1).await;
    let archived = s.delete(&format!("/v1/sequences/{id}")).await;
    let job = s.finish_job(archived).await;
    assert_eq!(
        (&job["kind"], &job["status"], &job["total"], &job["done"]),
        (
            &json!("archive_sequence"),
            &json!("succeeded"),
            &json!(1),
            &json!(1)
        )
    );
    assert!(job["finished_at"].is_string());
    assert!(s.schedules().await.is_empty());
    s.advance(7 * 24 * 3600).await;
    assert_eq!(s.outbox().await.len(), 1);
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "exited");
    assert_eq!(enrollment["exit_reason"], "sequence_archived");
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["status"], "archived");
    let edit = s
        .patch(&format!("/v1/sequences/{id}"), json!({"name": "x"}))
        .await;
    assert_eq!(edit.status, StatusCode::CONFLICT);
}

fn phone(i: usize) -> String {
    format!("+55119{:08}", 10_000_000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_contacts_in_one_json_request_are_enrolled_and_three_bad_phones_are_rejected() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, _) = sequence(
        &s,
        vec![template_step(
            &channel,
            "promo_nov",
            json!(["{{contact.name|cliente}}"]),
            1,
            "hours",
            None,
        )],
    )
    .await;
    let mut contacts: Vec<Value> = (0..1000)
        .map(|i| json!({"phone": phone(i), "name": format!("C{i}")}))
        .collect();
    contacts[10]["phone"] = json!("12345");
    contacts[500]["phone"] = json!("not a phone");
    contacts[999]["phone"] = json!("+55 11 1234");
    let results = enroll(&s, &id, Value::Array(contacts)).await;
    assert_eq!(results.len(), 1000);
    let rejected: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r["status"] == "rejected")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rejected, [10, 500, 999]);
    for i in rejected {
        assert!(
            results[i]["error"].as_str().unwrap().starts_with("phone "),
            "{}",
            results[i]
        );
    }
    assert!(results
        .iter()
        .enumerate()
        .all(|(i, r)| [10, 500, 999].contains(&i) || r["status"] == "enrolled"));
    assert_eq!(s.schedules().await.len(), 997);

    // The same request again changes nothing.
    let again = enroll(&s, &id, json!([{"phone": phone(0)}])).await;
    assert_eq!(again[0]["status"], "already_enrolled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_upload_enrolls_with_attributes_and_rejects_missing_template_variables() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, _) = sequence(
        &s,
        vec![template_step(
            &channel,
            "promo_nov",
            json!(["{{contact.attributes.coupon}}"]),
            0,
            "minutes",
            None,
        )],
    )
    .await;
    let csv =
        "phone,name,coupon\n+5511987654321,Ana,X1\n5521987654321,Bia,\n+5531987654321,Caio,Z9\n";
    let response = s
        .client
        .post(format!("{}/v1/sequences/{id}/enrollments", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["enrolled", "rejected", "enrolled"]);
    assert_eq!(
        body["results"][1]["error"],
        "missing contact.attributes.coupon (and the template gives no default)"
    );
    s.advance(1).await;
    let texts: Vec<String> = s
        .outbox()
        .await
        .iter()
        .map(|m| {
            m["request"]["template"]["components"][0]["parameters"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut texts = texts;
    texts.sort();
    assert_eq!(texts, ["X1", "Z9"]);
}

async fn one_step_with_failure(s: &TestServer, code: i64, times: u32) -> String {
    let channel = channel(s).await;
    let (id, _) = sequence(
        s,
        vec![
            template_step(&channel, "followup", json!([]), 0, "minutes", None),
            template_step(&channel, "followup_v2", json!([]), 1, "days", None),
        ],
    )
    .await;
    s.post(
        "/_dev/outbox/failures",
        json!({"code": code, "times": times}),
    )
    .await;
    enroll(s, &id, ana()).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_ends_in_one_send() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let id = one_step_with_failure(&s, 130429, 3).await;
    s.advance(3600).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 1);
    // Throttling is the number's, not the contact's: jittered backoffs of 1 s up to 4, 8 and
    // 16 s (doubling with each generation), none of them counted as a retry.
    let at: chrono::DateTime<chrono::Utc> = outbox[0]["at"].as_str().unwrap().parse().unwrap();
    let start: chrono::DateTime<chrono::Utc> = "2026-11-23T13:00:00Z".parse().unwrap();
    let waited = at - start;
    assert!(
        waited >= chrono::TimeDelta::seconds(3) && waited <= chrono::TimeDelta::seconds(28),
        "sent {waited} after the first try"
    );
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "active");
    assert_eq!(enrollment["history"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_with_doubling_backoff() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    one_step_with_failure(&s, 131000, 3).await;
    s.advance(3600).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 1);
    // Backoff 30 s, 60 s, 120 s after the first try.
    assert_eq!(outbox[0]["at"], "2026-11-23T13:03:30Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_ends_the_enrollment_with_the_code_in_its_history() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let id = one_step_with_failure(&s, 131026, 1).await;
    s.advance(3 * 24 * 3600).await;
    assert!(s.outbox().await.is_empty());
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "exited");
    assert_eq!(enrollment["exit_reason"], "undeliverable");
    assert_eq!(enrollment["history"][0]["outcome"], "failed");
    assert!(enrollment["history"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("131026"));
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["enrollments"]["exited"], 1);
    assert_eq!(stats["exit_reasons"]["undeliverable"], 1);
    assert_eq!(stats["steps"][0]["failed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_error_pauses_the_sequence_with_the_reason_and_keeps_the_enrollment() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let id = one_step_with_failure(&s, 132001, 1).await;
    s.advance(60).await;
    assert!(s.outbox().await.is_empty());
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["status"], "paused");
    assert!(
        sequence["status_reason"]
            .as_str()
            .unwrap()
            .contains("132001"),
        "{}",
        sequence["status_reason"]
    );
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "active");
    assert!(enrollment["history"].as_array().unwrap().is_empty());

    // Once the template is fixed and the sequence resumed, the same step goes out.
    let resumed = s
        .post(&format!("/v1/sequences/{id}/resume"), json!({}))
        .await;
    s.finish_job(resumed).await;
    s.advance(60).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["request"]["template"]["name"], "followup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_gets_404_and_a_viewer_gets_403_on_every_write() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (channel, id, steps) = three_step_sequence(&s).await;
    enroll(&s, &id, ana()).await;
    let step = &steps[0];
    // A job of acme's (removing completed enrollments changes nothing).
    let removal = s
        .delete(&format!("/v1/sequences/{id}/enrollments?status=completed"))
        .await;
    let job = s.finish_job(removal).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/jobs/{job}"), None),
        (Method::GET, format!("/v1/jobs/{job}/errors.csv"), None),
        (Method::DELETE, format!("/v1/jobs/{job}"), None),
        (
            Method::DELETE,
            format!("/v1/sequences/{id}/enrollments?status=active"),
            None,
        ),
        (Method::GET, format!("/v1/channels/{channel}"), None),
        (
            Method::PATCH,
            format!("/v1/channels/{channel}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::GET,
            format!("/v1/channels/{channel}/templates"),
            None,
        ),
        (Method::DELETE, format!("/v1/channels/{channel}"), None),
        (Method::GET, format!("/v1/sequences/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/sequences/{id}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/sequences/{id}/steps"),
            Some(template_step(
                &channel,
                "followup",
                json!([]),
                1,
                "hours",
                None,
            )),
        ),
        (
            Method::PUT,
            format!("/v1/sequences/{id}/steps/{step}"),
            Some(template_step(
                &channel,
                "followup",
                json!([]),
                1,
                "hours",
                None,
            )),
        ),
        (
            Method::POST,
            format!("/v1/sequences/{id}/steps/{step}/move"),
            Some(json!({"position": 0})),
        ),
        (
            Method::DELETE,
            format!("/v1/sequences/{id}/steps/{step}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/sequences/{id}/activate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/sequences/{id}/pause"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/sequences/{id}/resume"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/sequences/{id}/enrollments"),
            Some(json!({"contacts": [{"phone": "+5511987654321"}]})),
        ),
        (Method::GET, format!("/v1/sequences/{id}/enrollments"), None),
        (
            Method::GET,
            format!("/v1/sequences/{id}/enrollments/%2B5511987654321"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/sequences/{id}/enrollments/%2B5511987654321"),
            None,
        ),
        (Method::GET, format!("/v1/sequences/{id}/stats"), None),
        (Method::DELETE, format!("/v1/sequences/{id}"), None),
    ];
    let other = s.token_for("globex", Role::Admin);
    let viewer = s.token_for("acme", Role::Viewer);
    for (method, path, body) in &routes {
        let reply = s
            .request(method.clone(), path, Some(&other), body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path} as another tenant"
        );
        assert_eq!(reply.headers["content-type"], "application/problem+json");
        if *method != Method::GET {
            let reply = s
                .request(method.clone(), path, Some(&viewer), body.clone())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{method} {path} as a viewer"
            );
        } else {
            let reply = s.request(method.clone(), path, Some(&viewer), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{method} {path} as a viewer");
        }
    }
    // Another tenant's lists are empty, not shared.
    let sequences = s
        .request(Method::GET, "/v1/sequences", Some(&other), None)
        .await
        .ok();
    assert_eq!(sequences["items"], json!([]));
    // Nothing changed for the owner.
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["steps"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_problem_naming_the_field() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let reply = s
        .post(
            "/v1/sequences",
            json!({"name": "", "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "time_zone"]);

    let (id, _) = sequence(
        &s,
        vec![template_step(
            &channel,
            "followup",
            json!([]),
            0,
            "minutes",
            None,
        )],
    )
    .await;
    let missing = s
        .post(
            &format!("/v1/sequences/{id}/steps"),
            template_step(&channel, "nope", json!([]), 0, "minutes", None),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["errors"][0]["field"], "action.name");
    let wrong_count = s
        .post(
            &format!("/v1/sequences/{id}/steps"),
            template_step(&channel, "promo_nov", json!([]), 0, "minutes", None),
        )
        .await;
    assert_eq!(wrong_count.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_count.body["errors"][0]["field"], "action.parameters");
    let bad_window = s
        .post(
            &format!("/v1/sequences/{id}/steps"),
            template_step(
                &channel,
                "followup",
                json!([]),
                0,
                "minutes",
                Some(json!({"days": {"mon": [["18:00", "09:00"]]}})),
            ),
        )
        .await;
    // Well-formed times, a range that ends before it starts: impossible, not malformed.
    assert_eq!(bad_window.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_window.body["errors"][0]["field"]
        .as_str()
        .unwrap()
        .starts_with("window.days.mon"));
    let bad_delay = s
        .post(
            &format!("/v1/sequences/{id}/steps"),
            template_step(&channel, "followup", json!([]), 0, "weeks", None),
        )
        .await;
    assert_eq!(bad_delay.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_delay.body["errors"][0]["field"], "delay.unit");
    let too_many = s
        .post(
            &format!("/v1/sequences/{id}/enrollments"),
            json!({"contacts": []}),
        )
        .await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    let draft = s
        .post("/v1/sequences", json!({"name": "Rascunho"}))
        .await
        .ok();
    let not_active = s
        .post(
            &format!(
                "/v1/sequences/{}/enrollments",
                draft["id"].as_str().unwrap()
            ),
            json!({"contacts": ana()}),
        )
        .await;
    assert_eq!(not_active.status, StatusCode::CONFLICT);
    let no_steps = s
        .post(
            &format!("/v1/sequences/{}/activate", draft["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(no_steps.status, StatusCode::CONFLICT);
    let unknown = s.get("/v1/sequences/not-an-id").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatbot_step_starts_the_bot_with_the_contact_and_the_bot_secret_stays_hidden() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let bot = s
        .post("/v1/bots", json!({"name": "Triagem", "webhook_url": "https://bots.example.com/start", "secret": "a-very-long-bot-secret"}))
        .await
        .ok();
    assert!(bot.get("secret").is_none());
    let bot_id = bot["id"].as_str().unwrap();
    let (id, steps) = sequence(
        &s,
        vec![
            json!({"channel_id": channel, "action": {"type": "chatbot", "bot_id": bot_id},
                    "delay": {"amount": 5, "unit": "minutes"}}),
        ],
    )
    .await;
    enroll(&s, &id, ana()).await;
    s.advance(300).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["kind"], "chatbot");
    assert_eq!(outbox[0]["at"], "2026-11-23T13:05:00Z");
    assert_eq!(outbox[0]["channel_id"], channel.as_str());
    assert_eq!(outbox[0]["request"]["step_id"], steps[0].as_str());
    assert_eq!(outbox[0]["request"]["contact"]["name"], "Ana");
    assert_eq!(outbox[0]["request"]["contact"]["phone"], "+5511987654321");
    let bad = s
        .post(
            "/v1/bots",
            json!({"name": "x", "webhook_url": "http://insecure.example.com", "secret": "short"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["webhook_url", "secret"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_pointing_at_this_machine_a_private_network_or_metadata_is_refused_at_save() {
    let s = TestServer::start(&[]).await;
    for url in [
        "https://127.0.0.1/start",
        "https://10.0.0.8:8443/start",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/start",
        "https://[::1]/start",
        "https://user@192.168.0.10/start",
    ] {
        let refused = s
            .post(
                "/v1/bots",
                json!({"name": "Triagem", "webhook_url": url, "secret": "a-very-long-bot-secret"}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(refused.body["errors"][0]["field"], "webhook_url", "{url}");
    }
    // Nor by an edit of a bot saved with a public address.
    let bot = s
        .post(
            "/v1/bots",
            json!({"name": "Triagem", "webhook_url": "https://bots.example.com/start",
                   "secret": "a-very-long-bot-secret"}),
        )
        .await
        .ok();
    let edit = s
        .patch(
            &format!("/v1/bots/{}", bot["id"].as_str().unwrap()),
            json!({"webhook_url": "https://169.254.169.254/latest/meta-data/"}),
        )
        .await;
    assert_eq!(edit.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_enrolling_after_completion_starts_over() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, _) = sequence(
        &s,
        vec![template_step(
            &channel,
            "followup",
            json!([]),
            0,
            "minutes",
            None,
        )],
    )
    .await;
    enroll(&s, &id, ana()).await;
    s.advance(1).await;
    let done = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(done["status"], "completed");
    let again = enroll(&s, &id, ana()).await;
    assert_eq!(again[0]["status"], "enrolled");
    s.advance(1).await;
    assert_eq!(s.outbox().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_after_the_request_went_out_is_recorded_as_unknown_and_never_resent() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let channel = channel(&s).await;
    let (id, steps) = sequence(
        &s,
        vec![
            template_step(&channel, "followup", json!([]), 0, "minutes", None),
            template_step(&channel, "followup_v2", json!([]), 1, "hours", None),
        ],
    )
    .await;
    s.post(
        "/_dev/outbox/failures",
        json!({"timeout": true, "times": 1}),
    )
    .await;
    enroll(&s, &id, ana()).await;
    s.advance(2 * 3600).await;
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    let history = enrollment["history"].as_array().unwrap();
    assert_eq!(history[0]["step_id"], steps[0].as_str());
    assert_eq!(history[0]["outcome"], "unknown");
    // The first step is never tried again; the run goes on with the next one.
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["request"]["template"]["name"], "followup_v2");
    assert_eq!(history.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_enrolled_at_once_are_planned_at_the_numbers_rate_inside_the_window() {
    // Monday 17:57 in São Paulo, due a minute later: two minutes of the window are left today.
    // Ten thousand enrollments are beyond what the emulator serves in a test's time.
    let s = TestServer::manual_in_memory_at("2026-11-23T20:57:00Z").await;
    let channel = channel(&s).await;
    s.patch(
        &format!("/v1/channels/{channel}"),
        json!({"messages_per_second": 80}),
    )
    .await
    .ok();
    let (id, _) = sequence(
        &s,
        vec![template_step(
            &channel,
            "followup",
            json!([]),
            1,
            "minutes",
            Some(weekdays_window()),
        )],
    )
    .await;
    for batch in 0..10 {
        let contacts: Vec<Value> = (batch * 1000..(batch + 1) * 1000)
            .map(|i| json!({"phone": phone(i)}))
            .collect();
        let results = enroll(&s, &id, Value::Array(contacts)).await;
        assert!(results.iter().all(|r| r["status"] == "enrolled"));
    }
    let schedules = s.schedules().await;
    assert_eq!(schedules.len(), 10_000);
    let mut planned: Vec<chrono::DateTime<chrono::Utc>> = schedules
        .iter()
        .map(|s| s["fire_at"].as_str().unwrap().parse().unwrap())
        .collect();
    planned.sort();
    let (today_open, today_close) = (
        "2026-11-23T20:58:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        "2026-11-23T21:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
    );
    let tomorrow_open: chrono::DateTime<chrono::Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
    let today = planned.iter().filter(|t| **t < today_close).count();
    assert!(
        planned
            .iter()
            .all(|t| (today_open..today_close).contains(t) || *t >= tomorrow_open),
        "every planned send is inside the window"
    );
    // 80/s with 10 % headroom over two minutes: about 8,700 today, the rest at the next opening.
    assert!((8_600..=8_730).contains(&today), "{today} today");
    assert!(planned[today] - tomorrow_open < chrono::TimeDelta::milliseconds(14));
    let busiest = (0..planned.len())
        .map(|i| {
            planned[i..]
                .iter()
                .take_while(|t| **t - planned[i] < chrono::TimeDelta::seconds(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest <= 80, "{busiest} planned sends in one second");
}

/// Posts a CSV file to `/v1/sequences/{id}/{route}` (`imports` or `removals`).
async fn post_import_to(s: &TestServer, sequence: &str, route: &str, body: String) -> Reply {
    post_file(s, sequence, route, "text/csv", body).await
}

/// Posts a CSV file to the import route.
async fn post_import(s: &TestServer, sequence: &str, content_type: &str, body: String) -> Reply {
    post_file(s, sequence, "imports", content_type, body).await
}

async fn post_file(
    s: &TestServer,
    sequence: &str,
    route: &str,
    content_type: &str,
    body: String,
) -> Reply {
    let response = s
        .client
        .post(format!("{}/v1/sequences/{sequence}/{route}", s.base))
        .bearer_auth(&s.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_runs_as_a_job_and_its_error_file_names_each_rejected_row() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    // A spreadsheet export: byte-order mark, `;`, CRLF, a repeated phone and bad rows.
    let mut file = String::from("\u{feff}Telefone;phone;name\r\n");
    for i in 0..300 {
        file.push_str(&format!("x;+55 11 97000-{i:04};Cliente {i}\r\n"));
    }
    file.push_str("x;+55 11 97000-0007;Repetida\r\n");
    file.push_str("x;12345;Sem número\r\n");
    file.push_str("x;;Vazia\r\n");
    let started = post_import(&s, &id, "text/csv; charset=utf-8", file).await;
    let job = s.finish_job(started).await;
    assert_eq!(
        (
            &job["kind"],
            &job["status"],
            &job["total"],
            &job["done"],
            &job["failed"],
            &job["progress"]
        ),
        (
            &json!("import_contacts"),
            &json!("succeeded"),
            &json!(303),
            &json!(301),
            &json!(2),
            &json!(1.0)
        ),
        "{job}"
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(
        stats["enrollments"]["active"], 300,
        "the repeated phone once: {stats}"
    );
    let seven = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511970000007"))
        .await
        .ok();
    assert_eq!(
        seven["name"], "Cliente 7",
        "the first row of a phone wins: {seven}"
    );
    let csv = s
        .client
        .get(format!(
            "{}/v1/jobs/{}/errors.csv",
            s.base,
            job["id"].as_str().unwrap()
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "row,phone,reason");
    assert!(lines[1].starts_with("302,12345,phone "), "{csv}");
    assert!(lines[2].starts_with("303,,phone "), "{csv}");
    assert_eq!(lines.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_that_cannot_start_says_why() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    let ok = "phone\n+5511987654321\n".to_string();
    let xml = post_import(&s, &id, "application/xml", "<a/>".into()).await;
    assert_eq!(xml.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(xml.headers["content-type"], "application/problem+json");
    for (body, field) in [
        ("{}", "body"),
        (r#"{"upload": false}"#, "upload"),
        ("[", "body"),
    ] {
        let json = post_import(&s, &id, "application/json", body.into()).await;
        assert_eq!(
            json.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            json.body
        );
        assert_eq!(
            json.body["errors"][0]["field"], field,
            "{body}: {}",
            json.body
        );
    }
    let no_phone = post_import(&s, &id, "text/csv", "nome;cupom\nAna;X\n".into()).await;
    assert_eq!(no_phone.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        no_phone.body["errors"][0]["field"], "body",
        "{}",
        no_phone.body
    );
    assert!(no_phone.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("'phone' column"));
    let empty = post_import(&s, &id, "text/csv", "phone\r\n".into()).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    let unknown = post_import(&s, "01JD8X4Z2W6Q4T1N7K3M5P9R2A", "text/csv", ok.clone()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    s.finish_job(s.delete(&format!("/v1/sequences/{id}")).await)
        .await;
    let archived = post_import(&s, &id, "text/csv", ok).await;
    assert_eq!(archived.status, StatusCode::CONFLICT, "{}", archived.body);
    let jobs = s.get("/v1/jobs").await.ok();
    assert_eq!(
        jobs["items"].as_array().unwrap().len(),
        1,
        "only the archive: {jobs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_of_phones_removes_those_contacts_as_a_job() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    let contacts: Vec<Value> = (0..20)
        .map(|i| json!({"phone": format!("+55 11 97000-{i:04}"), "name": "C"}))
        .collect();
    enroll(&s, &id, json!(contacts)).await;
    // The first ten in another format, one twice, one not enrolled, one not a phone.
    let mut file = String::from("nome,phone\n");
    for i in 0..10 {
        file.push_str(&format!("C,5511970000{i:03}\n").replace("5511970000", "+55 (11) 97000-0"));
    }
    file.push_str("C,+5511970000003\nC,+5511970009999\nC,abc\n");
    let job = s
        .finish_job(post_import_to(&s, &id, "removals", file).await)
        .await;
    assert_eq!(
        (
            &job["kind"],
            &job["status"],
            &job["total"],
            &job["done"],
            &job["failed"]
        ),
        (
            &json!("remove_contacts"),
            &json!("succeeded"),
            &json!(13),
            &json!(11),
            &json!(2)
        ),
        "{job}"
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(
        (
            &stats["enrollments"]["active"],
            &stats["enrollments"]["removed"]
        ),
        (&json!(10), &json!(10)),
        "{stats}"
    );
    let errors = s
        .client
        .get(format!(
            "{}/v1/jobs/{}/errors.csv",
            s.base,
            job["id"].as_str().unwrap()
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        errors,
        "row,phone,reason\n12,+5511970009999,not enrolled in this sequence\n13,abc,phone is not a phone number in international format (+ and country code)\n"
    );
}

/// `PUT`s `body` to an upload link, as a client does: no bearer token, the link is the
/// authorization.
async fn put_upload(s: &TestServer, url: &str, body: String) -> Reply {
    let response = s.client.put(url).body(body).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_uploaded_through_its_link_starts_when_the_upload_completes() {
    let s = TestServer::manual_at("2026-11-23T13:00:00Z").await;
    let (_, id, _) = three_step_sequence(&s).await;
    // An expired link is refused.
    let late = post_import(&s, &id, "application/json", r#"{"upload": true}"#.into()).await;
    let late_url = late.body["upload_url"].as_str().unwrap().to_string();
    s.advance(16 * 60).await;
    let expired = put_upload(&s, &late_url, "phone\n+5511987654321\n".into()).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN, "{}", expired.body);
    assert!(
        expired.body["detail"].as_str().unwrap().contains("expired"),
        "{}",
        expired.body
    );

    let started = post_import(&s, &id, "application/json", r#"{"upload": true}"#.into()).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let job_id = started.body["job_id"].as_str().unwrap().to_string();
    assert_eq!(started.headers["location"], format!("/v1/jobs/{job_id}"));
    assert_eq!(started.body["upload_method"], "PUT");
    assert_eq!(started.body["upload_expires_at"], "2026-11-23T13:31:00Z");
    let url = started.body["upload_url"].as_str().unwrap().to_string();
    let waiting = s.get(&format!("/v1/jobs/{job_id}")).await.ok();
    assert_eq!(
        (&waiting["status"], &waiting["awaiting_upload"]),
        (&json!("queued"), &json!(true)),
        "{waiting}"
    );

    // The link is the authorization: altered, it is refused and nothing is stored.
    let altered = url.replace("signature=", "signature=0");
    let refused = put_upload(&s, &altered, "phone\n+5511987654321\n".into()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    let other_tenant = url.replace("tenant=acme", "tenant=outra");
    assert_ne!(other_tenant, url);
    let refused = put_upload(&s, &other_tenant, "phone\n+5511987654321\n".into()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let mut file = String::from("phone;name\r\n");
    for i in 0..250 {
        file.push_str(&format!("+55 11 97000-{i:04};Cliente {i}\r\n"));
    }
    file.push_str("12345;Sem número\r\n");
    let put = put_upload(&s, &url, file).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let job = s
        .finish_job(Reply {
            status: StatusCode::ACCEPTED,
            headers: started.headers.clone(),
            body: json!({"job_id": job_id}),
        })
        .await;
    assert_eq!(
        (
            &job["status"],
            &job["done"],
            &job["failed"],
            &job["awaiting_upload"]
        ),
        (&json!("succeeded"), &json!(250), &json!(1), &json!(false)),
        "{job}"
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["enrollments"]["active"], 250, "{stats}");
    // The link served its upload: a second one is refused.
    let again = put_upload(&s, &url, "phone\n+5511987654321\n".into()).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}
