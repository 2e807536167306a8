//! systemd's service notification for the live loop: `READY=1` once the first frame is shown,
//! then `WATCHDOG=1` while frames keep being shown (at most one per [`PING_EVERY`]). Frames that
//! stop flowing (a stage that stalls, a camera that hangs) stop the pings, and systemd restarts
//! the service after `WatchdogSec=`. A NO SIGNAL screen is not a frame: it does not ping.
//!
//! The protocol is one datagram per message to the socket in `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`); written here with std's `UnixDatagram` instead of a crate, as
//! it is those few lines. Without `$NOTIFY_SOCKET` (not started by systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;

use super::{DisplayError, DisplaySink, Overlay};

/// Least time between two `WATCHDOG=1` pings.
pub const PING_EVERY: Duration = Duration::from_secs(1);

/// Where systemd listens for notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifySocket {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (`@name` in `$NOTIFY_SOCKET`).
    Abstract(Vec<u8>),
}

impl NotifySocket {
    /// The socket named by `$NOTIFY_SOCKET`, if set and not empty.
    pub fn from_env() -> Option<NotifySocket> {
        let value = std::env::var_os("NOTIFY_SOCKET")?;
        Self::parse(&value.to_string_lossy())
    }

    /// A `$NOTIFY_SOCKET` value.
    pub fn parse(value: &str) -> Option<NotifySocket> {
        match value.strip_prefix('@') {
            _ if value.is_empty() => None,
            Some(name) => Some(NotifySocket::Abstract(name.as_bytes().to_vec())),
            None => Some(NotifySocket::Path(PathBuf::from(value))),
        }
    }

    /// Sends one message; failures are logged once per message kind by the caller.
    pub fn send(&self, message: &str) -> std::io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        match self {
            NotifySocket::Path(path) => socket.send_to(message.as_bytes(), path).map(drop),
            NotifySocket::Abstract(name) => {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                {
                    use std::os::linux::net::SocketAddrExt;
                    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                    socket.send_to_addr(message.as_bytes(), &addr).map(drop)
                }
                #[cfg(not(any(target_os = "linux", target_os = "android")))]
                {
                    let _ = name;
                    Err(std::io::Error::other("abstract sockets need Linux"))
                }
            }
        }
    }
}

/// A display sink that tells systemd the loop is alive each time the sink it wraps shows a frame.
pub struct WatchdogDisplay {
    inner: Box<dyn DisplaySink>,
    socket: NotifySocket,
    ready: bool,
    last_ping: Option<Instant>,
    failed: bool,
}

impl WatchdogDisplay {
    /// Wraps `inner`, notifying `socket`.
    pub fn new(inner: Box<dyn DisplaySink>, socket: NotifySocket) -> Self {
        WatchdogDisplay {
            inner,
            socket,
            ready: false,
            last_ping: None,
            failed: false,
        }
    }

    /// `inner` wrapped when `$NOTIFY_SOCKET` is set, else `inner` as it is.
    pub fn wrap_from_env(inner: Box<dyn DisplaySink>) -> Box<dyn DisplaySink> {
        match NotifySocket::from_env() {
            Some(socket) => Box::new(WatchdogDisplay::new(inner, socket)),
            None => inner,
        }
    }

    fn notify(&mut self, message: &str) {
        if let Err(e) = self.socket.send(message) {
            if !self.failed {
                log::warn!("systemd notification {message:?} failed: {e}");
                self.failed = true;
            }
        }
    }
}

impl DisplaySink for WatchdogDisplay {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        self.inner.show(frame, overlay)?;
        if overlay.no_signal.is_some() {
            return Ok(());
        }
        let now = Instant::now();
        if !self.ready {
            self.ready = true;
            self.last_ping = Some(now);
            self.notify("READY=1\nWATCHDOG=1");
        } else if self.last_ping.is_none_or(|t| now - t >= PING_EVERY) {
            self.last_ping = Some(now);
            self.notify("WATCHDOG=1");
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("{} (systemd watchdog pings)", self.inner.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::NullDisplay;

    fn received(socket: &UnixDatagram) -> Vec<String> {
        socket.set_nonblocking(true).expect("nonblocking");
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[test]
    fn ready_once_then_pings_only_while_frames_are_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let mut sink = WatchdogDisplay::new(Box::new(NullDisplay), NotifySocket::Path(path));
        let frame = RgbImage::new(4, 4);
        let no_signal = Overlay {
            no_signal: Some("camera lost".into()),
            ..Overlay::default()
        };
        sink.show(&frame, &no_signal).expect("show");
        assert!(received(&listener).is_empty(), "NO SIGNAL is not a frame");
        sink.show(&frame, &Overlay::default()).expect("show");
        sink.show(&frame, &Overlay::default()).expect("show");
        assert_eq!(
            received(&listener),
            ["READY=1\nWATCHDOG=1"],
            "one message within PING_EVERY"
        );
        std::thread::sleep(PING_EVERY + Duration::from_millis(50));
        sink.show(&frame, &no_signal).expect("show");
        assert!(
            received(&listener).is_empty(),
            "a stalled loop showing NO SIGNAL does not ping"
        );
        sink.show(&frame, &Overlay::default()).expect("show");
        assert_eq!(received(&listener), ["WATCHDOG=1"]);
    }

    #[test]
    fn notify_socket_values() {
        assert_eq!(NotifySocket::parse(""), None);
        assert_eq!(
            NotifySocket::parse("/run/systemd/notify"),
            Some(NotifySocket::Path(PathBuf::from("/run/systemd/notify")))
        );
        assert_eq!(
            NotifySocket::parse("@sd"),
            Some(NotifySocket::Abstract(b"sd".to_vec()))
        );
    }
}
