//! Real local peers for the metrics and notification tests: `promtool`, a real
//! `prometheus-pushgateway` process, an SMTP sink and an HTTP listener written on top of
//! std::net, and dead, silent and idle peers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Prometheus: the exposition parser, promtool and the Pushgateway.
// ---------------------------------------------------------------------------------------------

/// One parsed sample line: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the samples of a text exposition (enough of the format for these tests).
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("closing brace");
                let mut labels = BTreeMap::new();
                let mut chars = rest.chars().peekable();
                loop {
                    let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                    if key.is_empty() {
                        break;
                    }
                    assert_eq!(chars.next(), Some('"'), "label value quoted in {line:?}");
                    let mut val = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some('n') => val.push('\n'),
                                Some(o) => val.push(o),
                                None => panic!("dangling escape in {line:?}"),
                            },
                            '"' => break,
                            o => val.push(o),
                        }
                    }
                    labels.insert(key.trim_start_matches(',').to_string(), val);
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name.to_string(), labels)
            }
        };
        out.push((name, labels, value));
    }
    out
}

/// The value of the one sample named `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied()
}

/// Asserts that `promtool check metrics` (fed on stdin) accepts `text`.
pub fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: apt-get install prometheus");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n--- input ---\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Pushgateway on a free local port, killed on drop.
pub struct Gateway {
    child: Child,
    pub base: String,
}

impl Gateway {
    pub fn start() -> Gateway {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--persistence.file=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-pushgateway not found: apt-get install prometheus-pushgateway");
        let gw = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = ureq::get(&format!("{}/-/ready", gw.base)).call() {
                if r.status().is_success() {
                    return gw;
                }
            }
            assert!(Instant::now() < deadline, "the Pushgateway did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `anonsweep_*` samples the Pushgateway exposes on /metrics.
    pub fn scrape(&self) -> Vec<Sample> {
        let text = ureq::get(&format!("{}/metrics", self.base))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        parse(&text)
            .into_iter()
            .filter(|(n, _, _)| n.starts_with("anonsweep_"))
            .collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Notification peers: SMTP sink, HTTP listener, dead, silent and idle peers.
// ---------------------------------------------------------------------------------------------

/// What the SMTP sink received in one session.
#[derive(Debug, Default)]
pub struct Mail {
    pub commands: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server for one session on 127.0.0.1.
pub fn smtp_sink() -> (u16, JoinHandle<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut mail = Mail::default();
        out.write_all(b"220 sink.test ESMTP test sink\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let cmd = line.trim_end().to_string();
            let verb = cmd
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            mail.commands.push(cmd);
            match verb.as_str() {
                "EHLO" | "HELO" => out.write_all(b"250 sink.test\r\n").unwrap(),
                "DATA" => {
                    out.write_all(b"354 end with <CRLF>.<CRLF>\r\n").unwrap();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap() == 0 {
                            return mail;
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        let l = line.strip_prefix('.').unwrap_or(&line);
                        mail.data.push_str(l);
                    }
                    out.write_all(b"250 queued\r\n").unwrap();
                }
                "QUIT" => {
                    out.write_all(b"221 bye\r\n").unwrap();
                    break;
                }
                _ => out.write_all(b"250 OK\r\n").unwrap(),
            }
        }
        mail
    });
    (port, handle)
}

/// What the HTTP listener received.
#[derive(Debug)]
pub struct Request {
    pub head: String,
    pub body: String,
}

/// An HTTP server for one request on 127.0.0.1 that answers `status`.
pub fn http_listener(status: &'static str) -> (u16, JoinHandle<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("Content-Length header");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        );
        stream.write_all(reply.as_bytes()).unwrap();
        Request {
            head,
            body: String::from_utf8(body).unwrap(),
        }
    });
    (port, handle)
}

/// A port with nothing listening on it.
pub fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer that accepts the connection and then says nothing.
pub fn silent_peer() -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _): (TcpStream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Hold the connection open until the client gives up.
        let _ = (&stream).read(&mut [0; 4096]);
        let _ = (&stream).read_to_end(&mut Vec::new());
    });
    (port, handle)
}

/// The result of a peer thread that should be done by now (the client process has exited):
/// waits at most `within` for it, then fails the test instead of hanging on `join`.
pub fn join_within<T>(handle: JoinHandle<T>, within: Duration, what: &str) -> T {
    let deadline = Instant::now() + within;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "{what}: nothing arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.join().expect("peer thread panicked")
}

/// A listener that never answers and only records whether anyone connected (a connection
/// attempt waits in the accept queue even after the client has gone).
pub struct Idle {
    listener: TcpListener,
    pub port: u16,
}

impl Idle {
    pub fn bind() -> Idle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        Idle { listener, port }
    }

    /// Whether anyone connected, after `grace` for a late connection to land.
    pub fn contacted(&self, grace: Duration) -> bool {
        std::thread::sleep(grace);
        match self.listener.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept: {e}"),
        }
    }
}
