//! Missed events after a reconnect (issue 26), through real sockets: a page that
//! answers `pusher:ping` as pusher-js does and sends back the cookie its
//! handshake was given, as a browser does. The browser tests run the same with
//! stock Echo and pusher-js in Chromium (browser-tests/tests/recovery.test.mjs).

use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The app lines of the tests: `chat.*` and `private-chat.*` keep their events.
pub(crate) const RECOVERY: &str = "recovery_channels=['chat.*','private-chat.*']";

/// A browser tab: its WebSocket, the cookie it sends, whether it answers pings.
pub(crate) struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub(crate) socket_id: String,
    cookie: Option<String>,
    answers_pings: bool,
}

impl Page {
    /// Open the page's socket, sending `cookie`; keeps the one the answer sets.
    pub(crate) async fn open(server: &Server, cookie: Option<String>) -> Page {
        let url = format!(
            "ws://{}/app/{KEY}?protocol=7&client=js&version=8.4.0",
            server.addr
        );
        let mut request = url.into_client_request().unwrap();
        if let Some(c) = &cookie {
            request
                .headers_mut()
                .insert("cookie", format!("a=b; {c}").parse().unwrap());
        }
        let (ws, answer) = tokio_tungstenite::connect_async(request).await.unwrap();
        let set = answer
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        let cookie = set
            .map(|s| s.split(';').next().unwrap().to_string())
            .or(cookie);
        let mut page = Page {
            ws,
            socket_id: String::new(),
            cookie,
            answers_pings: true,
        };
        let hello = page.frame().await;
        assert_eq!(hello["event"], "pusher:connection_established");
        page.socket_id = data(&hello)["socket_id"].as_str().unwrap().to_string();
        page
    }

    /// The next frame, after answering any `pusher:ping` (as pusher-js does).
    pub(crate) async fn frame(&mut self) -> Value {
        self.within(3000).await.expect("a frame within 3 s")
    }

    pub(crate) async fn within(&mut self, ms: u64) -> Option<Value> {
        loop {
            let next = tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await;
            let Ok(Some(Ok(Message::Text(t)))) = next else {
                return None;
            };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["event"] == "pusher:ping" {
                if self.answers_pings {
                    let pong = json!({"event": "pusher:pong", "data": {}}).to_string();
                    self.ws.send(Message::text(pong)).await.unwrap();
                }
                continue;
            }
            return Some(v);
        }
    }

    pub(crate) async fn subscribe(&mut self, channel: &str) -> Vec<Value> {
        let mut msg = json!({"event": "pusher:subscribe", "data": {"channel": channel}});
        if channel.starts_with("private-") {
            msg["data"]["auth"] = channel_auth(&self.socket_id, channel, None).into();
        }
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        // A return may wait for a probe of its old sockets (at most 2.5 s).
        let first = self.within(5000).await.expect("subscription_succeeded");
        assert_eq!(
            first["event"], "pusher_internal:subscription_succeeded",
            "{first}"
        );
        self.quiet(300).await
    }

    /// Every frame until none comes for `ms`.
    pub(crate) async fn quiet(&mut self, ms: u64) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(v) = self.within(ms).await {
            seen.push(v);
        }
        seen
    }

    pub(crate) async fn close(mut self) -> Option<String> {
        let _ = self.ws.close(None).await;
        // Let the node see the close and note where the page stood.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.cookie
    }
}

/// The `data` of the events among `frames` (`n` of each numbered event).
pub(crate) fn datas(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["data"].as_str().unwrap_or("").to_string())
        .collect()
}

pub(crate) async fn publish_all(server: &Server, channel: &str, range: std::ops::Range<usize>) {
    for i in range {
        assert_eq!(server.publish(channel, "msg", &i.to_string()).await.0, 200);
    }
}

fn numbers(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

/// A page away while five events were published gets exactly those, in order,
/// after `subscription_succeeded` and before a newer one; nothing it had.
#[tokio::test]
async fn a_returning_page_gets_what_it_missed_once_in_order() {
    let server = Server::start("", RECOVERY).await;
    let mut page = Page::open(&server, None).await;
    assert!(
        page.cookie.is_some(),
        "the handshake answer sets the browser cookie"
    );
    assert!(page.subscribe("private-chat.1").await.is_empty());
    publish_all(&server, "private-chat.1", 0..5).await;
    assert_eq!(datas(&page.quiet(300).await), numbers(0..5));
    let cookie = page.close().await;
    publish_all(&server, "private-chat.1", 5..10).await;
    let mut back = Page::open(&server, cookie.clone()).await;
    assert_eq!(back.cookie, cookie, "the same browser");
    let missed = back.subscribe("private-chat.1").await;
    assert_eq!(datas(&missed), numbers(5..10), "{missed:?}");
    publish_all(&server, "private-chat.1", 10..11).await;
    assert_eq!(datas(&back.quiet(300).await), numbers(10..11));
    // Another tab of the same browser, fresh: nothing to replay.
    let mut tab = Page::open(&server, cookie).await;
    assert!(tab.subscribe("private-chat.1").await.is_empty());
}

/// Events the page never confirmed (its pongs never came) are replayed: the
/// node counts as received only what a ping after it confirmed.
#[tokio::test]
async fn unconfirmed_events_are_replayed() {
    let server = Server::start("", RECOVERY).await;
    let mut page = Page::open(&server, None).await;
    page.subscribe("chat.1").await;
    publish_all(&server, "chat.1", 0..2).await;
    assert_eq!(datas(&page.quiet(300).await), numbers(0..2));
    page.answers_pings = false;
    publish_all(&server, "chat.1", 2..4).await;
    assert_eq!(
        datas(&page.quiet(300).await),
        numbers(2..4),
        "sent, never confirmed"
    );
    let cookie = page.close().await;
    let mut back = Page::open(&server, cookie).await;
    assert_eq!(datas(&back.subscribe("chat.1").await), numbers(2..4));
}

/// Past the max age, or past what the channel keeps, the page is told so.
#[tokio::test]
async fn a_gap_too_long_or_trimmed_is_signalled() {
    let app = format!("{RECOVERY}\nrecovery_max_events=3\nrecovery_max_age=1");
    let server = Server::start("", &app).await;
    let mut page = Page::open(&server, None).await;
    page.subscribe("chat.1").await;
    page.subscribe("chat.2").await;
    let cookie = page.close().await;
    publish_all(&server, "chat.1", 0..5).await;
    let mut back = Page::open(&server, cookie).await;
    let told = back.subscribe("chat.1").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "pusher:recovery_failed");
    assert_eq!(told[0]["channel"], "chat.1");
    assert_eq!(told[0]["data"]["reason"], "history_trimmed");
    let cookie = back.close().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut late = Page::open(&server, cookie).await;
    let told = late.subscribe("chat.2").await;
    assert_eq!(told[0]["event"], "pusher:recovery_failed", "{told:?}");
    assert_eq!(told[0]["data"]["reason"], "gap_too_long");
}

/// Channels outside the patterns keep nothing, and an app without recovery
/// channels sets no cookie.
#[tokio::test]
async fn only_recovery_channels_keep_events() {
    let server = Server::start("", RECOVERY).await;
    let mut page = Page::open(&server, None).await;
    page.subscribe("ticker").await;
    let cookie = page.close().await;
    publish_all(&server, "ticker", 0..3).await;
    let mut back = Page::open(&server, cookie).await;
    assert!(back.subscribe("ticker").await.is_empty());
    let plain = Server::start("", "").await;
    assert_eq!(Page::open(&plain, None).await.cookie, None);
}

/// The history read: the kept events with their ids, oldest first; 400 for a
/// channel that keeps nothing.
#[tokio::test]
async fn the_api_reads_a_channels_kept_events() {
    let server = Server::start("", &format!("{RECOVERY}\nrecovery_max_events=3")).await;
    publish_all(&server, "chat.9", 0..4).await;
    let path = format!("/apps/{APP_ID}/channels/chat.9/events");
    let (status, body) = server.api("GET", &path, &[], "").await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(datas(events), numbers(1..4));
    assert_eq!(events[0]["event"], "msg");
    assert!(
        events[0]["id"].as_str().unwrap().parse::<u64>().is_ok(),
        "{body}"
    );
    let path = format!("/apps/{APP_ID}/channels/ticker/events");
    assert_eq!(server.api("GET", &path, &[], "").await.0, 400);
}

/// In a cluster the page comes back on the other node: that node kept the
/// events too (every node keeps every recovery channel's events) and knows
/// where the page stood (told over the bus when its socket closed).
pub async fn a_page_recovers_on_another_node(bus: &mut impl crate::cluster::Bus) {
    let (a, b) = (
        crate::cluster::node(&*bus, "rc", RECOVERY).await,
        crate::cluster::node(&*bus, "rc", RECOVERY).await,
    );
    let mut page = Page::open(&a, None).await;
    page.subscribe("private-chat.7").await;
    publish_all(&a, "private-chat.7", 0..3).await;
    assert_eq!(datas(&page.quiet(300).await), numbers(0..3));
    let cookie = page.close().await;
    publish_all(&a, "private-chat.7", 3..6).await;
    publish_all(&b, "private-chat.7", 6..9).await;
    let mut back = Page::open(&b, cookie).await;
    let missed = back.subscribe("private-chat.7").await;
    assert_eq!(datas(&missed), numbers(3..9), "{missed:?}");
    publish_all(&a, "private-chat.7", 9..10).await;
    assert_eq!(datas(&back.quiet(300).await), numbers(9..10));
}

/// An event published with the page's socket excluded (its sender, as Laravel's
/// `toOthers()` does) is not replayed to it.
#[tokio::test]
async fn the_senders_own_event_is_not_echoed_back() {
    let server = Server::start("", RECOVERY).await;
    let mut page = Page::open(&server, None).await;
    page.subscribe("chat.1").await;
    let body =
        json!({"name": "msg", "data": "mine", "channel": "chat.1", "socket_id": page.socket_id});
    let path = format!("/apps/{APP_ID}/events");
    assert_eq!(
        server.api("POST", &path, &[], &body.to_string()).await.0,
        200
    );
    assert!(page.quiet(300).await.is_empty());
    let cookie = page.close().await;
    publish_all(&server, "chat.1", 0..1).await;
    let mut back = Page::open(&server, cookie).await;
    assert_eq!(datas(&back.subscribe("chat.1").await), numbers(0..1));
}

/// A deploy: the page's node drains (4200) and the page comes straight back
/// on the other node: the node told where the page stood before its close
/// frame, so the events it never confirmed are replayed there.
pub async fn a_page_recovers_after_its_node_drains(bus: &mut impl crate::cluster::Bus) {
    let mut a = crate::cluster::node(&*bus, "rd", RECOVERY).await;
    let b = crate::cluster::node(&*bus, "rd", RECOVERY).await;
    let mut page = Page::open(&a, None).await;
    page.subscribe("chat.5").await;
    publish_all(&b, "chat.5", 0..2).await;
    assert_eq!(datas(&page.quiet(300).await), numbers(0..2));
    page.answers_pings = false;
    publish_all(&b, "chat.5", 2..5).await;
    assert_eq!(
        datas(&page.quiet(300).await),
        numbers(2..5),
        "had, not confirmed"
    );
    a.stop();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), page.ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => {
                assert_eq!(f.map(|f| u16::from(f.code)), Some(4200));
                break;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a 4200 close, saw {other:?}"),
        }
    }
    let mut back = Page::open(&b, page.cookie.clone()).await;
    assert_eq!(datas(&back.subscribe("chat.5").await), numbers(2..5));
}

/// Two tabs of one browser (one cookie) cut at different times: which tab is
/// which cannot be told, so each returning tab is told `ambiguous` rather than
/// given the other's events (duplicates) or none (a silent loss).
#[tokio::test]
async fn tabs_that_left_different_places_are_each_told() {
    let server = Server::start("", RECOVERY).await;
    let mut first = Page::open(&server, None).await;
    let mut second = Page::open(&server, first.cookie.clone()).await;
    first.subscribe("chat.1").await;
    // A live tab answers the ping its browser's new socket causes (as a browser does).
    let (joined, _) = tokio::join!(second.subscribe("chat.1"), first.quiet(2000));
    assert!(joined.is_empty());
    publish_all(&server, "chat.1", 0..2).await;
    assert_eq!(datas(&first.quiet(300).await), numbers(0..2));
    let cookie = first.close().await;
    publish_all(&server, "chat.1", 2..4).await;
    assert_eq!(datas(&second.quiet(300).await), numbers(0..4));
    second.close().await;
    for _ in 0..2 {
        let mut back = Page::open(&server, cookie.clone()).await;
        let told = back.subscribe("chat.1").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["data"]["reason"], "ambiguous");
    }
    let mut third = Page::open(&server, cookie).await;
    assert!(
        third.subscribe("chat.1").await.is_empty(),
        "a third tab is a new one"
    );
}

/// A channel with more sockets than a publisher writes to itself (its tasks
/// write them): every socket still gets each event once, and a page that left
/// it gets what it missed.
#[tokio::test]
async fn a_large_channel_delivers_and_recovers_the_same() {
    let server = Server::start("", RECOVERY).await;
    let mut pages = Vec::new();
    for _ in 0..40 {
        let mut page = Page::open(&server, None).await;
        page.subscribe("chat.big").await;
        pages.push(page);
    }
    publish_all(&server, "chat.big", 0..3).await;
    for page in pages.iter_mut() {
        assert_eq!(datas(&page.quiet(300).await), numbers(0..3));
    }
    let cookie = pages.pop().unwrap().close().await;
    publish_all(&server, "chat.big", 3..6).await;
    let mut back = Page::open(&server, cookie).await;
    assert_eq!(datas(&back.subscribe("chat.big").await), numbers(3..6));
}

/// A page whose network changed: its old socket is still open on the node
/// (nothing told the node it is gone) when the page comes back. The old socket
/// is pinged, does not answer, is closed, and the page gets what it missed.
#[tokio::test]
async fn a_socket_gone_unnoticed_is_found_out_when_its_browser_returns() {
    let server = Server::start("", RECOVERY).await;
    let mut old = Page::open(&server, None).await;
    old.subscribe("chat.1").await;
    publish_all(&server, "chat.1", 0..2).await;
    assert_eq!(datas(&old.quiet(300).await), numbers(0..2));
    // The network goes: nothing more is read or answered, nothing is closed.
    publish_all(&server, "chat.1", 2..5).await;
    let started = std::time::Instant::now();
    let mut back = Page::open(&server, old.cookie.clone()).await;
    assert_eq!(datas(&back.subscribe("chat.1").await), numbers(2..5));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(old);
}

/// Another tab of the browser, alive in the channel, answers the ping: the new
/// tab joins as a new one at once and the other keeps its socket.
#[tokio::test]
async fn a_live_tab_answers_and_is_left_alone() {
    let server = Server::start("", RECOVERY).await;
    let mut tab = Page::open(&server, None).await;
    tab.subscribe("chat.1").await;
    let cookie = tab.cookie.clone();
    let reading = tokio::spawn(async move {
        let seen = tab.quiet(2500).await;
        (tab, seen)
    });
    let started = std::time::Instant::now();
    let mut new = Page::open(&server, cookie).await;
    assert!(new.subscribe("chat.1").await.is_empty());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let (mut tab, _) = reading.await.unwrap();
    publish_all(&server, "chat.1", 0..1).await;
    assert_eq!(datas(&tab.quiet(300).await), numbers(0..1), "still open");
}

/// A phone that changed network behind a balancer: its old socket is still
/// open on node A (nothing told A it is gone) when the page comes back on
/// node B. B asks A (the old socket's mark names it), A pings the socket,
/// closes it when it does not answer, and its place reaches B: the page gets
/// what it missed.
pub async fn a_silent_socket_on_another_node_is_found_out(bus: &mut impl crate::cluster::Bus) {
    let a = crate::cluster::node(&*bus, "rs", RECOVERY).await;
    let b = crate::cluster::node(&*bus, "rs", RECOVERY).await;
    let mut old = Page::open(&a, None).await;
    old.subscribe("chat.3").await;
    publish_all(&b, "chat.3", 0..2).await;
    assert_eq!(datas(&old.quiet(300).await), numbers(0..2));
    // The network goes: nothing more is read or answered, nothing is closed.
    publish_all(&b, "chat.3", 2..5).await;
    let mut back = Page::open(&b, old.cookie.clone()).await;
    let missed = back.subscribe("chat.3").await;
    assert_eq!(datas(&missed), numbers(2..5), "{missed:?}");
    drop(old);
}

/// A second tab of the browser opened on another node while the first lives:
/// the first answers the probe, keeps its socket, and the new tab joins as a
/// new one, told nothing.
pub async fn a_live_tab_on_another_node_is_left_alone(bus: &mut impl crate::cluster::Bus) {
    let a = crate::cluster::node(&*bus, "rl", RECOVERY).await;
    let b = crate::cluster::node(&*bus, "rl", RECOVERY).await;
    let mut tab = Page::open(&a, None).await;
    tab.subscribe("chat.4").await;
    let cookie = tab.cookie.clone();
    let reading = tokio::spawn(async move {
        let seen = tab.quiet(2000).await;
        (tab, seen)
    });
    let mut new = Page::open(&b, cookie).await;
    assert!(new.subscribe("chat.4").await.is_empty());
    let (mut tab, _) = reading.await.unwrap();
    publish_all(&b, "chat.4", 0..1).await;
    assert_eq!(datas(&tab.quiet(300).await), numbers(0..1), "still open");
    assert_eq!(datas(&new.quiet(300).await), numbers(0..1));
}

/// The page's node is killed (SIGKILL: no goodbye, its sockets' places die
/// with it). Coming back on another node, the page is told `node_lost` in a
/// channel that had events since it joined (so it can reload), and nothing
/// in one that had none (it missed nothing).
pub async fn a_page_whose_node_was_killed_is_told(bus: &mut impl crate::cluster::Bus) {
    let a = crate::cluster::node(&*bus, "rk", RECOVERY).await;
    let (mut child, b) = crate::cluster::node_process(&*bus, "rk", RECOVERY).await;
    let mut page = Page::open(&b, None).await;
    page.subscribe("chat.9").await;
    page.subscribe("chat.10").await;
    publish_all(&a, "chat.9", 0..2).await;
    assert_eq!(datas(&page.quiet(300).await), numbers(0..2));
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    publish_all(&a, "chat.9", 2..4).await;
    let mut back = Page::open(&a, page.cookie.clone()).await;
    let told = back.subscribe("chat.9").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "pusher:recovery_failed");
    assert_eq!(told[0]["data"]["reason"], "node_lost");
    assert!(back.subscribe("chat.10").await.is_empty());
    publish_all(&a, "chat.9", 4..5).await;
    assert_eq!(datas(&back.quiet(300).await), numbers(4..5));
}

/// Past the app's bound on kept events (`recovery_max_kept`, over all its
/// channels) the oldest go, whichever channel they were in: a page that needed
/// them is told `history_trimmed`; a page whose events are still kept gets them.
#[tokio::test]
async fn past_the_apps_bound_the_oldest_events_go_and_their_pages_are_told() {
    let server = Server::start("", &format!("{RECOVERY}\nrecovery_max_kept=5")).await;
    let mut first = Page::open(&server, None).await;
    first.subscribe("chat.1").await;
    let mut second = Page::open(&server, None).await;
    second.subscribe("chat.2").await;
    let (first, second) = (first.close().await, second.close().await);
    publish_all(&server, "chat.1", 0..3).await;
    // The sixth kept event: the oldest (chat.1's "0") goes.
    publish_all(&server, "chat.2", 0..3).await;
    let mut back = Page::open(&server, first).await;
    let told = back.subscribe("chat.1").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "pusher:recovery_failed");
    assert_eq!(told[0]["data"]["reason"], "history_trimmed");
    let mut back = Page::open(&server, second).await;
    assert_eq!(datas(&back.subscribe("chat.2").await), numbers(0..3));
}
