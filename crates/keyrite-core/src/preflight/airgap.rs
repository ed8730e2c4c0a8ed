//! The air-gap check: interfaces, radios, routes and removable media, read from /sys and /proc.

use super::PreflightError;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// One part of the air-gap check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// No network interface up other than loopback (`/sys/class/net/*/operstate`).
    NetworkInterfaces,
    /// No wireless device (`/sys/class/net/*/wireless`, `/sys/class/ieee80211`).
    Wireless,
    /// No Bluetooth device (`/sys/class/bluetooth`).
    Bluetooth,
    /// No default route (`/proc/net/route`, `/proc/net/ipv6_route`).
    DefaultRoute,
    /// No removable medium mounted (`/proc/mounts` + `/sys/block/*/removable`).
    RemovableMedia,
}

impl CheckKind {
    /// Short name for display.
    pub fn title(self) -> &'static str {
        match self {
            CheckKind::NetworkInterfaces => "network interfaces",
            CheckKind::Wireless => "wireless devices",
            CheckKind::Bluetooth => "bluetooth devices",
            CheckKind::DefaultRoute => "default route",
            CheckKind::RemovableMedia => "removable media",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckKind,
    /// True when nothing was found.
    pub passed: bool,
    /// One line for the record: what was looked at and what was found.
    pub reason: String,
    /// Each thing found, e.g. "interface eth0 is up"; empty when passed.
    pub findings: Vec<String>,
}

/// The whole air-gap check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AirGapReport {
    /// The root directory read (`/` in production).
    pub root: PathBuf,
    /// One result per check, in a fixed order.
    pub checks: Vec<CheckResult>,
}

impl AirGapReport {
    /// True when every check passed.
    pub fn is_clean(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Every finding of every failed check.
    pub fn findings(&self) -> Vec<String> {
        self.checks
            .iter()
            .flat_map(|c| c.findings.iter().cloned())
            .collect()
    }

    /// What production does: `Ok` when clean, otherwise the refusal naming every finding.
    pub fn require_clean(&self) -> Result<(), PreflightError> {
        if self.is_clean() {
            Ok(())
        } else {
            Err(PreflightError::AirGapFailed {
                findings: self.findings(),
            })
        }
    }
}

/// Runs the air-gap check against a root directory.
#[derive(Debug, Clone)]
pub struct AirGapCheck {
    root: PathBuf,
}

impl Default for AirGapCheck {
    fn default() -> Self {
        Self::new("/")
    }
}

impl AirGapCheck {
    /// Reads `ROOT/sys/...` and `ROOT/proc/...`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Runs every check. Never fails: a check that cannot read what it needs fails with the reason.
    pub fn run(&self) -> AirGapReport {
        AirGapReport {
            root: self.root.clone(),
            checks: vec![
                self.interfaces(),
                self.wireless(),
                self.bluetooth(),
                self.default_route(),
                self.removable_media(),
            ],
        }
    }

    fn interfaces(&self) -> CheckResult {
        let dir = self.path("sys/class/net");
        let names = match list_dir(&dir) {
            Ok(n) => n,
            Err(e) => return unreadable(CheckKind::NetworkInterfaces, &dir, &e),
        };
        let mut findings = Vec::new();
        let mut seen = Vec::new();
        for name in &names {
            let base = dir.join(name);
            // ARPHRD_LOOPBACK = 772.
            if read_trim(&base.join("type")).as_deref() == Some("772") || name == "lo" {
                continue;
            }
            seen.push(name.clone());
            let state = read_trim(&base.join("operstate")).unwrap_or_else(|| "unknown".into());
            let flags = read_trim(&base.join("flags"))
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            // "unknown" is what many drivers (tun, some USB) report while up: trust IFF_UP then.
            let up = state == "up" || state == "dormant" || (state == "unknown" && flags & 1 == 1);
            if up {
                findings.push(format!("interface {name} is up"));
            }
        }
        let reason = if findings.is_empty() {
            if seen.is_empty() {
                "only loopback present".to_string()
            } else {
                format!(
                    "no interface up other than loopback ({} down)",
                    seen.join(", ")
                )
            }
        } else {
            format!("{} up", findings.len())
        };
        result(CheckKind::NetworkInterfaces, reason, findings)
    }

    fn wireless(&self) -> CheckResult {
        let mut findings = Vec::new();
        let net = self.path("sys/class/net");
        for name in list_dir(&net).unwrap_or_default() {
            if net.join(&name).join("wireless").exists()
                || net.join(&name).join("phy80211").exists()
            {
                findings.push(format!("wireless interface {name} present"));
            }
        }
        for phy in list_dir(&self.path("sys/class/ieee80211")).unwrap_or_default() {
            findings.push(format!("wireless radio {phy} present"));
        }
        let reason = if findings.is_empty() {
            "no wireless interface or radio".to_string()
        } else {
            format!("{} wireless device(s)", findings.len())
        };
        result(CheckKind::Wireless, reason, findings)
    }

    fn bluetooth(&self) -> CheckResult {
        let findings: Vec<String> = list_dir(&self.path("sys/class/bluetooth"))
            .unwrap_or_default()
            .into_iter()
            .map(|d| format!("bluetooth device {d} present"))
            .collect();
        let reason = if findings.is_empty() {
            "no bluetooth device".to_string()
        } else {
            format!("{} bluetooth device(s)", findings.len())
        };
        result(CheckKind::Bluetooth, reason, findings)
    }

    fn default_route(&self) -> CheckResult {
        let v4 = self.path("proc/net/route");
        let text = match fs::read_to_string(&v4) {
            Ok(t) => t,
            Err(e) => return unreadable(CheckKind::DefaultRoute, &v4, &e),
        };
        let mut findings = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            if f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000" {
                let flags = u32::from_str_radix(f[3], 16).unwrap_or(0);
                if flags & 0x1 == 1 {
                    findings.push(format!("default IPv4 route via {}", f[0]));
                }
            }
        }
        // Absent when IPv6 is disabled: nothing to route.
        if let Ok(text) = fs::read_to_string(self.path("proc/net/ipv6_route")) {
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                // dest plen src splen nexthop metric refcnt use flags iface
                if f.len() < 10 || f[0] != "0".repeat(32) || f[1] != "00" {
                    continue;
                }
                let flags = u32::from_str_radix(f[8], 16).unwrap_or(0);
                // RTF_UP = 0x1; RTF_REJECT = 0x200 (the kernel's unreachable default on lo).
                if flags & 0x1 == 1 && flags & 0x200 == 0 && f[9] != "lo" {
                    findings.push(format!("default IPv6 route via {}", f[9]));
                }
            }
        }
        let reason = if findings.is_empty() {
            "no default route".to_string()
        } else {
            format!("{} default route(s)", findings.len())
        };
        result(CheckKind::DefaultRoute, reason, findings)
    }

    fn removable_media(&self) -> CheckResult {
        let mounts_path = self.path("proc/mounts");
        let mounts = match fs::read_to_string(&mounts_path) {
            Ok(t) => t,
            Err(e) => return unreadable(CheckKind::RemovableMedia, &mounts_path, &e),
        };
        let mut findings = Vec::new();
        for line in mounts.lines() {
            let mut f = line.split_whitespace();
            let (Some(dev), Some(mnt)) = (f.next(), f.next()) else {
                continue;
            };
            let Some(name) = dev.strip_prefix("/dev/") else {
                continue;
            };
            if let Some(disk) = self.removable_disk(name) {
                findings.push(format!(
                    "removable medium {dev} (disk {disk}) mounted at {}",
                    unescape_mount(mnt)
                ));
            }
        }
        let reason = if findings.is_empty() {
            "no removable medium mounted".to_string()
        } else {
            format!("{} removable medium/media mounted", findings.len())
        };
        result(CheckKind::RemovableMedia, reason, findings)
    }

    /// The whole disk holding block device `name` if that disk is removable or on USB.
    fn removable_disk(&self, name: &str) -> Option<String> {
        let block = self.path("sys/block");
        let disks = list_dir(&block).ok()?;
        let disk = disks
            .into_iter()
            .find(|d| d == name || block.join(d).join(name).is_dir())?;
        let removable = read_trim(&block.join(&disk).join("removable")).as_deref() == Some("1");
        // USB disks often say removable=0; their device path goes through a USB controller.
        let on_usb = fs::canonicalize(block.join(&disk))
            .map(|p| p.to_string_lossy().contains("/usb"))
            .unwrap_or(false);
        (removable || on_usb).then_some(disk)
    }
}

fn result(check: CheckKind, reason: String, findings: Vec<String>) -> CheckResult {
    CheckResult {
        check,
        passed: findings.is_empty(),
        reason,
        findings,
    }
}

fn unreadable(check: CheckKind, path: &Path, e: &std::io::Error) -> CheckResult {
    let f = format!("cannot read {}: {e}", path.display());
    CheckResult {
        check,
        passed: false,
        reason: f.clone(),
        findings: vec![f],
    }
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut v: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// /proc/mounts escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
