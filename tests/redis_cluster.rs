//! Several real hub processes sharing one real `redis-server` (`transport = "redis"`, issue 7,
//! docs/scaling.md): cross-node delivery, resuming on another node, retention in Redis, one
//! order for every node, a Redis restart, and a node killed with SIGKILL.
//!
//! Every test starts its own `redis-server` on a free loopback port and its own hubs with a
//! unique key prefix. Without `redis-server` the tests print a SKIP line and pass (`bash .ci/run`
//! installs it).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::harness::{uniq, HUB_PATH};
use support::http::pct;
use support::ports::free_port;
use support::process::HubProcess;
use support::redis_server::{Persistence, RedisServer};
use support::sse::Parser;
use support::tokens::sign_hs;

const PUBLISHER_KEY: &str = "redis-cluster-publisher-secret-0123456789abcdef";
const SUBSCRIBER_KEY: &str = "redis-cluster-subscriber-secret-0123456789abcdef";
/// How long anything expected may take (a reader reconnecting after an outage backs off up to 5 s).
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- redis-server

fn xlen(redis: &RedisServer, key: &str) -> u64 {
    let mut connection = redis.connection().expect("connect to redis");
    redis::cmd("XLEN")
        .arg(key)
        .query(&mut connection)
        .expect("XLEN")
}

// ---------------------------------------------------------------- hub nodes

/// One hub process of a cluster, killed on drop (its log tail is shown when a test fails).
struct Node {
    process: HubProcess,
    admin_port: Option<u16>,
}

impl Node {
    fn port(&self) -> u16 {
        self.process.port()
    }

    fn base(&self) -> String {
        self.process.url()
    }

    fn hub_url(&self) -> String {
        format!("{}{HUB_PATH}", self.base())
    }

    /// SIGKILL, and reap it.
    fn kill9(&mut self) {
        self.process.kill();
    }
}

/// A Redis and the nodes that share it under one key prefix.
struct Cluster {
    nodes: Vec<Node>,
    prefix: String,
    redis: RedisServer,
}

impl Cluster {
    /// `None` when `redis-server` is not installed.
    fn start(nodes: usize, env: &[(&str, &str)]) -> Option<Self> {
        let test = std::thread::current()
            .name()
            .unwrap_or("redis_cluster")
            .to_owned();
        let redis = RedisServer::start(&test, Persistence::None)?;
        let prefix = format!("qs-test-{}", uuid::Uuid::new_v4().simple());
        let mut cluster = Self {
            nodes: Vec::new(),
            prefix,
            redis,
        };
        for _ in 0..nodes {
            cluster.add_node(env, false);
        }
        Some(cluster)
    }

    /// Starts one more node (with an admin listener when asked) and waits for `/healthz`.
    fn add_node(&mut self, env: &[(&str, &str)], admin: bool) -> usize {
        let redis_url = self.redis.url();
        let admin_port = admin.then(free_port);
        let admin_listen = admin_port.map(|port| format!("127.0.0.1:{port}"));
        let mut all = vec![
            ("QUICKSILVER_TRANSPORT", "redis"),
            ("QUICKSILVER_REDIS_URL", redis_url.as_str()),
            ("QUICKSILVER_REDIS_KEY_PREFIX", self.prefix.as_str()),
            ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
            ("QUICKSILVER_SUBSCRIBER_JWT_KEY", SUBSCRIBER_KEY),
            ("QUICKSILVER_ANONYMOUS", "true"),
        ];
        if let Some(listen) = &admin_listen {
            all.push(("QUICKSILVER_ADMIN_LISTEN", listen));
        }
        all.extend_from_slice(env);
        self.nodes.push(Node {
            process: HubProcess::start("qs-redis-cluster-node", &all),
            admin_port,
        });
        self.nodes.len() - 1
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }
}

// ---------------------------------------------------------------- HTTP helpers

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn status_of(url: &str) -> Option<u16> {
    http()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// POSTs an update to `node`; returns the status and the body (the id on 200).
fn try_publish(node: &Node, topic: &str, data: &str) -> (u16, String) {
    let token = sign_hs(
        "HS256",
        PUBLISHER_KEY,
        &json!({"mercure": {"publish": ["*"]}}),
    );
    let response = http()
        .post(node.hub_url())
        .bearer_auth(token)
        .form(&[("topic", topic), ("data", data)])
        .send()
        .expect("publish request");
    let status = response.status().as_u16();
    (status, response.text().expect("publish answer"))
}

fn publish(node: &Node, topic: &str, data: &str) -> String {
    let (status, body) = try_publish(node, topic, data);
    assert_eq!(status, 200, "publish on :{} answered {body:?}", node.port());
    body
}

/// The status of a subscription with `Last-Event-ID` (the stream, if any, is dropped).
fn subscribe_status(node: &Node, topic: &str, last_event_id: &str) -> (u16, String) {
    let response = http()
        .get(node.hub_url())
        .query(&[("topic", topic)])
        .header("Last-Event-ID", last_event_id)
        .send()
        .expect("subscription request");
    let status = response.status().as_u16();
    let body = if status == 200 {
        String::new()
    } else {
        response.text().unwrap_or_default()
    };
    (status, body)
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sse {
    id: String,
    data: String,
}

/// An open event stream read by a thread; `close` ends the connection.
struct Subscriber {
    events: Receiver<Sse>,
    socket: TcpStream,
    /// The `Last-Event-ID` header of the answer.
    echoed: Option<String>,
}

impl Subscriber {
    /// Subscribes to `topics` on `node` (anonymously), with an optional `Last-Event-ID`.
    fn open(node: &Node, topics: &[&str], last_event_id: Option<&str>) -> Self {
        let query: Vec<String> = topics.iter().map(|t| format!("topic={}", pct(t))).collect();
        let mut request = format!(
            "GET {HUB_PATH}?{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n",
            query.join("&"),
            node.port()
        );
        if let Some(id) = last_event_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        let mut socket = TcpStream::connect(("127.0.0.1", node.port())).expect("connect");
        socket.write_all(request.as_bytes()).expect("send");
        socket
            .set_read_timeout(Some(WAIT))
            .expect("set a read timeout");
        let mut reader = BufReader::new(socket.try_clone().expect("clone the socket"));
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            let read = reader.read_line(&mut line).expect("read the answer head");
            assert!(read > 0, "the stream closed before its head");
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        assert!(
            head.first().is_some_and(|status| status.contains(" 200 ")),
            "subscription on :{} answered {head:?}",
            node.port()
        );
        let header = |name: &str| {
            head.iter().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let echoed = header("last-event-id");
        // Heartbeats are off by default for long enough: no read timeout on the stream itself.
        socket
            .set_read_timeout(None)
            .expect("clear the read timeout");
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            let mut parser = Parser::default();
            let mut forward = |bytes: &[u8]| {
                parser.push(bytes);
                while let Some(event) = parser.next_event() {
                    // EventSource dispatches only events with data.
                    if !event.data_lines.is_empty() {
                        let id = event.id.clone().unwrap_or_default();
                        let _ = sender.send(Sse {
                            id,
                            data: event.data(),
                        });
                    }
                }
            };
            let _ = if chunked {
                read_chunks(&mut reader, &mut forward)
            } else {
                read_raw(&mut reader, &mut forward)
            };
        });
        Self {
            events,
            socket,
            echoed,
        }
    }

    /// The next event, or a panic after `WAIT`.
    #[track_caller]
    fn next(&self) -> Sse {
        match self.events.recv_timeout(WAIT) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => panic!("no event within {WAIT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the event stream ended"),
        }
    }

    #[track_caller]
    fn take(&self, n: usize) -> Vec<Sse> {
        (0..n).map(|_| self.next()).collect()
    }

    /// Asserts that nothing arrives for `quiet` and that the stream is still open.
    #[track_caller]
    fn assert_quiet(&self, quiet: Duration) {
        match self.events.recv_timeout(quiet) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(event) => panic!("unexpected event {event:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the event stream ended"),
        }
    }

    fn close(self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// Reads a chunked body, handing each chunk's bytes to `sink`, until the stream ends.
fn read_chunks(reader: &mut impl BufRead, mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size)? == 0 {
            return Ok(());
        }
        let size = size.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16).map_err(std::io::Error::other)?;
        if size == 0 {
            return Ok(());
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        sink(&chunk[..size]);
    }
}

fn read_raw(reader: &mut impl Read, mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut buffer = [0; 8192];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        sink(&buffer[..read]);
    }
}

fn ids(events: &[Sse]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// The topics of the open subscriptions a node lists (`GET /.well-known/mercure/subscriptions`).
fn listed_subscriptions(node: &Node) -> Vec<(String, String)> {
    let token = sign_hs(
        "HS256",
        SUBSCRIBER_KEY,
        &json!({"mercure": {"subscribe": ["*"]}}),
    );
    let response = http()
        .get(format!("{}/subscriptions", node.hub_url()))
        .bearer_auth(token)
        .send()
        .expect("subscriptions request");
    assert_eq!(response.status().as_u16(), 200, "subscriptions API");
    let body: Value = response.json().expect("a JSON-LD document");
    body["subscriptions"]
        .as_array()
        .expect("a subscriptions array")
        .iter()
        .map(|s| {
            (
                s["subscriber"].as_str().unwrap_or_default().to_owned(),
                s["topic"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The admin listener's readiness status.
fn ready(node: &Node) -> Option<u16> {
    let port = node.admin_port.expect("a node with an admin listener");
    status_of(&format!("http://127.0.0.1:{port}/mercure/health/ready"))
}

fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn an_update_published_on_one_node_reaches_subscribers_on_every_node() {
    let Some(cluster) = Cluster::start(3, &[]) else {
        return;
    };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let topic = uniq("cross-node");
    let on_a = Subscriber::open(a, &[&topic], None);
    let on_b = Subscriber::open(b, &[&topic], None);
    let on_c = Subscriber::open(c, &[&topic], None);
    let unrelated = Subscriber::open(c, &[&uniq("unrelated")], None);

    let id = publish(b, &topic, "hello from b");
    for subscriber in [&on_a, &on_b, &on_c] {
        assert_eq!(
            subscriber.next(),
            Sse {
                id: id.clone(),
                data: "hello from b".into()
            }
        );
    }
    // And the other way round, from the node the first one was not published on.
    let second = publish(a, &topic, "hello from a");
    for subscriber in [&on_a, &on_b, &on_c] {
        assert_eq!(subscriber.next().id, second);
    }
    unrelated.assert_quiet(Duration::from_millis(300));
    assert_eq!(xlen(&cluster.redis, &cluster.key("stream")), 2);
}

#[test]
fn a_subscriber_resumes_on_another_node_with_last_event_id_and_earliest() {
    let Some(cluster) = Cluster::start(3, &[]) else {
        return;
    };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let topic = uniq("resume");
    let first = Subscriber::open(a, &[&topic], None);
    let seen: Vec<String> = (1..=3)
        .map(|i| publish(b, &topic, &format!("seen {i}")))
        .collect();
    assert_eq!(ids(&first.take(3)), seen);
    first.close();

    // Missed while disconnected, published on two different nodes.
    let mut missed = Vec::new();
    for i in 1..=4 {
        let node = if i % 2 == 0 { a } else { b };
        missed.push(publish(node, &topic, &format!("missed {i}")));
    }
    let resumed = Subscriber::open(c, &[&topic], Some(&seen[2]));
    assert_eq!(resumed.echoed.as_deref(), Some(seen[2].as_str()));
    let replayed = resumed.take(4);
    assert_eq!(
        ids(&replayed),
        missed,
        "exactly the missed events, in order"
    );
    assert_eq!(replayed[3].data, "missed 4");
    let live = publish(a, &topic, "live");
    assert_eq!(resumed.next().id, live, "the live event comes right after");
    resumed.assert_quiet(Duration::from_millis(300));

    // `earliest` on yet another node replays everything retained.
    let everything = Subscriber::open(b, &[&topic], Some("earliest"));
    let mut all = seen.clone();
    all.extend(missed);
    all.push(live);
    assert_eq!(ids(&everything.take(all.len())), all);
    everything.assert_quiet(Duration::from_millis(300));
}

#[test]
fn history_size_is_applied_to_the_redis_stream() {
    let Some(cluster) = Cluster::start(2, &[("QUICKSILVER_HISTORY_SIZE", "5")]) else {
        return;
    };
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let topic = uniq("retention");
    let published: Vec<String> = (0..12)
        .map(|i| {
            publish(
                if i % 2 == 0 { a } else { b },
                &topic,
                &format!("event {i}"),
            )
        })
        .collect();
    let length = xlen(&cluster.redis, &cluster.key("stream"));
    assert!(length <= 5, "XLEN is {length}");

    let replay = Subscriber::open(b, &[&topic], Some("earliest"));
    assert_eq!(ids(&replay.take(5)), published[7..].to_vec());
    let marker = publish(a, &topic, "marker");
    assert_eq!(replay.next().id, marker, "only the 5 newest were replayed");

    // A cursor that was trimmed away is unknown: the answer says `earliest` (A-HIST-6).
    let trimmed = Subscriber::open(a, &[&topic], Some(&published[0]));
    assert_eq!(trimmed.echoed.as_deref(), Some("earliest"));
}

#[test]
fn concurrent_publishers_on_different_nodes_give_every_subscriber_the_same_order() {
    let Some(cluster) = Cluster::start(3, &[]) else {
        return;
    };
    const PER_PUBLISHER: usize = 40;
    let topic = uniq("order");
    let subscribers: Vec<Subscriber> = cluster
        .nodes
        .iter()
        .flat_map(|node| {
            [
                Subscriber::open(node, &[&topic], None),
                Subscriber::open(node, &["*"], None),
            ]
        })
        .collect();
    let per_publisher: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let topic = &topic;
                scope.spawn(move || {
                    (0..PER_PUBLISHER)
                        .map(|i| publish(node, topic, &format!("node {n} event {i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("publisher"))
            .collect()
    });
    let total = PER_PUBLISHER * cluster.nodes.len();
    let sequences: Vec<Vec<String>> = subscribers.iter().map(|s| ids(&s.take(total))).collect();
    for (n, sequence) in sequences.iter().enumerate() {
        assert_eq!(sequence, &sequences[0], "subscriber {n} saw another order");
    }
    let mut all: Vec<&String> = sequences[0].iter().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "no duplicate, no loss");
    // Each publisher's own events keep the order it published them in (it waited for each 200).
    for own in &per_publisher {
        let order: Vec<&String> = sequences[0].iter().filter(|id| own.contains(id)).collect();
        assert_eq!(order, own.iter().collect::<Vec<_>>());
    }
    for subscriber in &subscribers {
        subscriber.assert_quiet(Duration::from_millis(200));
    }
}

#[test]
fn a_redis_restart_fails_publishes_and_readiness_but_keeps_subscribers() {
    let Some(mut cluster) = Cluster::start(1, &[]) else {
        return;
    };
    cluster.add_node(&[], true);
    let topic = uniq("outage");
    let subscribers: Vec<Subscriber> = cluster
        .nodes
        .iter()
        .map(|node| Subscriber::open(node, &[&topic], None))
        .collect();
    let before = publish(&cluster.nodes[0], &topic, "before");
    for subscriber in &subscribers {
        assert_eq!(subscriber.next().id, before);
    }
    assert_eq!(ready(&cluster.nodes[1]), Some(200));

    cluster.redis.kill();
    for node in &cluster.nodes {
        assert_eq!(
            try_publish(node, &topic, "while down"),
            (503, "Service Unavailable\n".to_owned())
        );
    }
    assert_eq!(ready(&cluster.nodes[1]), Some(503));
    // A cursor cannot be looked up: refused, the client retries.
    let (status, _) = subscribe_status(&cluster.nodes[0], &topic, &before);
    assert_eq!(status, 503);
    // The liveness of the process itself does not depend on Redis.
    assert_eq!(
        status_of(&format!("{}/healthz", cluster.nodes[1].base())),
        Some(200)
    );
    std::thread::sleep(Duration::from_millis(1500));
    for subscriber in &subscribers {
        subscriber.assert_quiet(Duration::from_millis(10));
    }

    // Back (empty: it had no persistence); the readers reconnect with backoff.
    cluster.redis.restart();
    wait_for("readiness back to 200", WAIT, || {
        ready(&cluster.nodes[1]) == Some(200)
    });
    let after: Vec<String> = (0..3)
        .map(|i| publish(&cluster.nodes[i % 2], &topic, &format!("after {i}")))
        .collect();
    for subscriber in &subscribers {
        assert_eq!(ids(&subscriber.take(3)), after);
        subscriber.assert_quiet(Duration::from_millis(200));
    }
}

#[test]
fn subscribers_of_a_killed_node_resume_elsewhere_and_its_presence_expires() {
    let Some(mut cluster) = Cluster::start(3, &[("QUICKSILVER_SUBSCRIPTIONS", "true")]) else {
        return;
    };
    let topic = uniq("node-death");
    let marker = uniq("only-on-the-doomed-node");
    let doomed = Subscriber::open(&cluster.nodes[0], &[&topic, &marker], None);
    let survivor = Subscriber::open(&cluster.nodes[2], &[&topic], None);
    let mut published: Vec<String> = (0..3)
        .map(|i| publish(&cluster.nodes[1], &topic, &format!("before {i}")))
        .collect();
    assert_eq!(ids(&doomed.take(3)), published);
    let last_seen = published[2].clone();

    // The subscription API of any node lists the subscriptions of every node.
    let on_doomed: Vec<String> = listed_subscriptions(&cluster.nodes[1])
        .into_iter()
        .filter(|(_, t)| *t == marker)
        .map(|(subscriber, _)| subscriber)
        .collect();
    assert_eq!(on_doomed.len(), 1, "node A's subscription listed on node B");

    cluster.nodes[0].kill9();
    wait_for("the stream of the killed node to end", WAIT, || {
        matches!(
            doomed.events.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Disconnected)
        )
    });
    for i in 0..3 {
        published.push(publish(&cluster.nodes[1], &topic, &format!("after {i}")));
    }
    let resumed = Subscriber::open(&cluster.nodes[2], &[&topic], Some(&last_seen));
    assert_eq!(
        ids(&resumed.take(3)),
        published[3..].to_vec(),
        "nothing lost"
    );
    assert_eq!(ids(&survivor.take(6)), published);

    // The dead node cannot clean up: its presence hash expires (30 s TTL, renewed every 10 s).
    let killed_at = Instant::now();
    wait_for(
        "the killed node's subscriptions to leave the list",
        Duration::from_secs(40),
        || {
            !listed_subscriptions(&cluster.nodes[1])
                .iter()
                .any(|(subscriber, _)| on_doomed.contains(subscriber))
        },
    );
    eprintln!(
        "the killed node's subscriptions left the list after {:?}",
        killed_at.elapsed()
    );
    // The survivors' subscriptions are still listed.
    let listed = listed_subscriptions(&cluster.nodes[1]);
    assert_eq!(
        listed.iter().filter(|(_, t)| *t == topic).count(),
        2,
        "{listed:?}"
    );
}
