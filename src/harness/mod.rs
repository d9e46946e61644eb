//! The harnesses: the scripted demo, the benchmark, the fault test and the crafting
//! peer. Not part of the product: compiled for the library's own unit tests and
//! with the `harness` feature only, run by the `eessi-harness` binary; the
//! `eessi-switch` binary never links them (scripts/test checks its symbols).

#[cfg(feature = "harness")]
pub mod bench;
#[cfg(feature = "harness")]
pub mod chaos;
pub mod demo;
#[cfg(feature = "harness")]
pub mod hostile;
#[cfg(feature = "harness")]
pub mod load;
#[cfg(feature = "harness")]
pub mod node;
pub mod peer;
#[cfg(feature = "harness")]
pub mod preload;
#[cfg(feature = "harness")]
pub mod search;

use std::path::PathBuf;

/// The `eessi-switch` binary built beside the running harness binary (same
/// profile): the harnesses run the product as a separate process.
pub fn switch_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let dir = me
        .parent()
        .ok_or_else(|| format!("{} has no directory", me.display()))?;
    // Integration tests run from target/<profile>/deps; the binaries sit one up.
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let exe = d.join("eessi-switch");
        if exe.is_file() {
            return Ok(exe);
        }
    }
    Err(format!(
        "no eessi-switch binary beside {}: build it with the same profile (cargo build [--release] --features harness)",
        me.display()
    ))
}

/// A free TCP port on 127.0.0.1 (for a process about to bind it).
pub fn free_port() -> Result<u16, String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| e.to_string())?
        .local_addr()
        .map_err(|e| e.to_string())?
        .port())
}

/// Run a tool to completion; its stdout, or an error with its stderr.
pub fn run_tool(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A RabbitMQ virtual host of the harness's own (guest may use it), deleted on drop.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub fn new(tag: &str) -> Result<Vhost, String> {
        let name = format!("eessi-{tag}-{}", uuid::Uuid::new_v4().simple());
        run_tool("rabbitmqctl", &["add_vhost", &name])?;
        let v = Vhost { name };
        run_tool(
            "rabbitmqctl",
            &["set_permissions", "-p", &v.name, "guest", ".*", ".*", ".*"],
        )?;
        Ok(v)
    }
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
    /// The number of messages in `queue` of virtual host `vhost`, as the broker
    /// counts them.
    pub fn depth_of(vhost: &str, queue: &str) -> Result<u64, String> {
        let out = run_tool(
            "rabbitmqctl",
            &["list_queues", "-q", "-p", vhost, "name", "messages"],
        )?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(n, _)| n.trim() == queue)
            .and_then(|(_, m)| m.trim().parse().ok())
            .unwrap_or(0))
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = run_tool("rabbitmqctl", &["delete_vhost", &self.name]);
    }
}
