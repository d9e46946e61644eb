//! One `eessi-switch serve` process run by a harness: its configuration, the
//! process (killed when the handle is dropped, whatever happened), its health,
//! its `/metrics` counters and what `/proc` says about its CPU and memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a node's configuration says beyond its country.
pub struct NodeSpec<'a> {
    pub name: &'a str,
    pub country: &'a str,
    pub store_url: &'a str,
    pub amqp_url: &'a str,
    /// `[limits] body_bytes_max` when not the default (10 MiB).
    pub body_bytes_max: Option<usize>,
}

/// A running `serve`, SIGKILLed on drop. Its retransmission interval (10 min) is
/// longer than any run, so a SED left unanswered (the outbound phase) is
/// published once and the foreign queue's depth counts the submissions.
pub struct Node {
    pub name: String,
    pub base: String,
    pub addr: String,
    pub pid: u32,
    pub log: PathBuf,
    child: tokio::process::Child,
}

fn config_text(spec: &NodeSpec, root: &Path, port: u16) -> String {
    format!(
        "country = \"{country}\"\nregistry = \"{root}/fixtures/registry.toml\"\nbuc_definitions = \"{root}/buc-definitions\"\nsed_schemas = \"{root}/sed-schemas\"\nadapters = \"{root}/adapters\"\nkeys_dir = \"{root}/fixtures/pki\"\nshutdown_grace_ms = 2000\n\
[store]\nurl = \"{store}\"\n[amqp]\nurl = \"{amqp}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\nadapter_grants = {{ \"onss-posting\" = [\"BE:ONSS\"] }}\n[retry]\ninterval_ms = 600000\nattempts_max = 5\nwindow_ms = 3600000\n{limits}",
        limits = spec
            .body_bytes_max
            .map(|b| format!("[limits]\nbody_bytes_max = {b}\n"))
            .unwrap_or_default(),
        country = spec.country,
        root = root.display(),
        store = spec.store_url,
        amqp = spec.amqp_url,
    )
}

impl Node {
    /// Write the configuration under `dir`, start the process, wait for `/health`.
    pub async fn start(spec: &NodeSpec<'_>, root: &Path, dir: &Path) -> Result<Node, String> {
        let exe = super::switch_exe()?;
        let port = super::free_port()?;
        let config = dir.join(format!("{}.toml", spec.name));
        std::fs::write(&config, config_text(spec, root, port))
            .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let log = dir.join(format!("{}.log", spec.name));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let child = tokio::process::Command::new(&exe)
            .args(["serve", "--config"])
            .arg(&config)
            .env("EESSI_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", exe.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| format!("{} exited at once", spec.name))?;
        let addr = format!("127.0.0.1:{port}");
        let mut node = Node {
            name: spec.name.to_owned(),
            base: format!("http://{addr}"),
            addr,
            pid,
            log,
            child,
        };
        node.wait_healthy().await?;
        Ok(node)
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}); log {}:\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                ));
            }
            if let Ok((200, _)) = super::load::get(&self.addr, "/health").await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{} did not become healthy within 120 s; log:\n{}",
            self.name,
            self.log_tail()
        ))
    }

    /// The last lines of the process's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// One counter from `/metrics` (`eessi_<name>_total`).
    pub async fn counter(&self, name: &str) -> Result<u64, String> {
        let (status, body) = super::load::get(&self.addr, "/metrics").await?;
        if status != 200 {
            return Err(format!("{}: /metrics answered {status}", self.name));
        }
        let text = String::from_utf8_lossy(&body);
        let key = format!("eessi_{name}_total ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("{}: no {key}on /metrics", self.name))
    }

    /// CPU time (user + system) the process used so far.
    pub fn cpu(&self) -> Result<Duration, String> {
        pid_cpu(self.pid).map_err(|e| format!("{}: {e}", self.name))
    }

    /// Resident memory now (VmRSS), in bytes.
    pub fn rss(&self) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .map_err(|e| format!("{}: /proc/{}/status: {e}", self.name, self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| format!("{}: no VmRSS", self.name))
    }
}

/// CPU time (user + system) process `pid` used so far, from `/proc/<pid>/stat`.
pub fn pid_cpu(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is field 3, utime 14 and stime 15 (proc(5)).
    let after = stat
        .rsplit_once(')')
        .map(|(_, a)| a)
        .ok_or("unreadable /proc stat")?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, String> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "unreadable /proc stat".to_owned())
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
}

/// The local RabbitMQ node's process (Erlang's `beam.smp`), when this machine runs
/// one this user can see: its CPU belongs to the path's cost on a shared machine.
pub fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (comm.trim() == "beam.smp" && String::from_utf8_lossy(&cmdline).contains("rabbit"))
            .then_some(pid)
    })
}

/// Clock ticks per second for /proc times: `getconf CLK_TCK`, else Linux's usual 100.
pub fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        super::run_tool("getconf", &["CLK_TCK"])
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}
