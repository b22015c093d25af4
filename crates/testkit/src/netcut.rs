//! A TCP relay between a desk and its PostgreSQL server that a test can cut and restore: the network
//! cable pulled (every open connection dropped, new ones refused) and plugged back in.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct NetCut {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped on every cut: relays of an older generation close.
    generation: watch::Sender<u64>,
}

/// This computer's address on its network (not loopback): where a connection is not "on this computer"
/// for ClinicPay even though the test's server is. Found from the route to a documentation address;
/// a UDP connect sends nothing.
pub fn network_address() -> IpAddr {
    let socket = UdpSocket::bind("0.0.0.0:0").expect("bind a UDP socket");
    let ip = socket
        .connect("203.0.113.1:9")
        .and_then(|_| socket.local_addr())
        .map(|a| a.ip())
        .expect("this test needs a network interface with a route (none found)");
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "this test needs a network address that is not loopback; this computer has {ip}"
    );
    ip
}

impl NetCut {
    /// Relays 127.0.0.1:PORT (a free port) to `target`.
    pub async fn start(target: SocketAddr) -> NetCut {
        NetCut::start_on(IpAddr::from([127, 0, 0, 1]), target).await
    }

    /// Relays `ip`:PORT (a free port) to `target`: with [`network_address`], a server that looks as if
    /// it were on another computer.
    pub async fn start_on(ip: IpAddr, target: SocketAddr) -> NetCut {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let (accept_up, accept_gen) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client); // refused: the cable is out
                    continue;
                }
                let mut cut = accept_gen.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        NetCut {
            addr,
            up,
            generation,
        }
    }

    /// `url` with its host and port replaced by the relay's.
    pub fn url_through(&self, url: &str, target: &str) -> String {
        url.replacen(target, &self.addr.to_string(), 1)
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
