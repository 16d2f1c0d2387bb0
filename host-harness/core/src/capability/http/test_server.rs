//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: std only, bounded in time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the server does with one connection.
pub(crate) enum Reply {
    /// Read the request, write these bytes, close.
    Raw(Vec<u8>),
    /// Write these bytes without reading anything first (for non-HTTP clients), close.
    Blurt(Vec<u8>),
    /// Read the request and say nothing for up to this long (or until `finish`).
    Silent(Duration),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct SeenRequest {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl SeenRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one connection per reply, in order, then stops; never runs longer than 20 s.
pub(crate) struct TestServer {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    thread: Option<JoinHandle<()>>,
}

const LIFETIME: Duration = Duration::from_secs(20);

impl TestServer {
    pub(crate) fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || serve(listener, replies, &stop, &seen))
        };
        Self {
            port,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stop serving and return every request seen (any connection counts as one).
    pub(crate) fn finish(mut self) -> Vec<SeenRequest> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("test server thread");
        }
        self.seen.lock().expect("seen lock").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    listener: TcpListener,
    replies: Vec<Reply>,
    stop: &AtomicBool,
    seen: &Mutex<Vec<SeenRequest>>,
) {
    let deadline = Instant::now() + LIFETIME;
    let mut replies = replies.into_iter();
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let reply = replies.next();
        if let Some(Reply::Blurt(bytes)) = &reply {
            let _ = stream.write_all(bytes);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        }
        let request = read_request(&mut stream);
        seen.lock().expect("seen lock").push(request);
        match reply {
            Some(Reply::Raw(bytes)) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.flush();
            }
            Some(Reply::Silent(hold)) => {
                let until = Instant::now() + hold;
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Some(Reply::Blurt(_)) | None => {}
        }
    }
}

fn read_request(stream: &mut TcpStream) -> SeenRequest {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break data.len(),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
        if data.len() > 1 << 20 {
            break data.len();
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    SeenRequest {
        method,
        target,
        headers,
        body,
    }
}
