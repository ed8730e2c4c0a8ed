//! Air-gap and clock checks against fake /sys and /proc trees with exact findings.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::preflight::{
    AirGapCheck, CheckKind, ClockCheckResult, ClockConfirmation, ClockReading,
};
use std::fs;
use std::path::Path;

const ROUTE_HEADER: &str =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
/// The kernel's own unreachable IPv6 default on lo (RTF_REJECT): not a real route.
const V6_LO_REJECT: &str = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

fn iface(root: &Path, name: &str, typ: &str, state: &str, flags: &str) {
    write(
        root,
        &format!("sys/class/net/{name}/type"),
        &format!("{typ}\n"),
    );
    write(
        root,
        &format!("sys/class/net/{name}/operstate"),
        &format!("{state}\n"),
    );
    write(
        root,
        &format!("sys/class/net/{name}/flags"),
        &format!("{flags}\n"),
    );
}

/// A laptop with the network cable pulled and nothing plugged in.
fn clean(root: &Path) {
    iface(root, "lo", "772", "unknown", "0x9");
    iface(root, "eth0", "1", "down", "0x1002");
    write(root, "proc/net/route", ROUTE_HEADER);
    write(root, "proc/net/ipv6_route", V6_LO_REJECT);
    write(
        root,
        "proc/mounts",
        "/dev/nvme0n1p2 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n",
    );
    write(root, "sys/block/nvme0n1/removable", "0\n");
    fs::create_dir_all(root.join("sys/block/nvme0n1/nvme0n1p2")).expect("mkdir");
}

#[test]
fn clean_machine_passes_every_check() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    let r = AirGapCheck::new(tmp.path()).run();
    assert!(r.is_clean(), "{r:#?}");
    assert_eq!(r.require_clean(), Ok(()));
    let reasons: Vec<(CheckKind, &str)> = r
        .checks
        .iter()
        .map(|c| (c.check, c.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                CheckKind::NetworkInterfaces,
                "no interface up other than loopback (eth0 down)"
            ),
            (CheckKind::Wireless, "no wireless interface or radio"),
            (CheckKind::Bluetooth, "no bluetooth device"),
            (CheckKind::DefaultRoute, "no default route"),
            (CheckKind::RemovableMedia, "no removable medium mounted"),
        ]
    );
}

#[test]
fn everything_connected_is_found_and_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    clean(root);
    iface(root, "eth0", "1", "up", "0x1003");
    iface(root, "tun0", "65534", "unknown", "0x1091");
    iface(root, "wlan0", "1", "down", "0x1002");
    fs::create_dir_all(root.join("sys/class/net/wlan0/wireless")).expect("mkdir");
    fs::create_dir_all(root.join("sys/class/ieee80211/phy0")).expect("mkdir");
    fs::create_dir_all(root.join("sys/class/bluetooth/hci0")).expect("mkdir");
    write(
        root,
        "proc/net/route",
        &format!("{ROUTE_HEADER}eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"),
    );
    write(
        root,
        "proc/net/ipv6_route",
        &format!("00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n{V6_LO_REJECT}"),
    );
    write(
        root,
        "proc/mounts",
        "/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/sdb1 /media/officer/KEY\\040DRIVE vfat rw 0 0\n",
    );
    write(root, "sys/block/sdb/removable", "1\n");
    fs::create_dir_all(root.join("sys/block/sdb/sdb1")).expect("mkdir");

    let r = AirGapCheck::new(root).run();
    assert!(!r.is_clean());
    assert!(r.checks.iter().all(|c| !c.passed), "{r:#?}");
    assert_eq!(
        r.findings(),
        [
            "interface eth0 is up",
            "interface tun0 is up",
            "wireless interface wlan0 present",
            "wireless radio phy0 present",
            "bluetooth device hci0 present",
            "default IPv4 route via eth0",
            "default IPv6 route via eth0",
            "removable medium /dev/sdb1 (disk sdb) mounted at /media/officer/KEY DRIVE",
        ]
    );
    assert_eq!(
        r.require_clean().map_err(|e| e.to_string()),
        Err("production refuses to start: air-gap check failed: interface eth0 is up; \
             interface tun0 is up; wireless interface wlan0 present; wireless radio phy0 present; \
             bluetooth device hci0 present; default IPv4 route via eth0; default IPv6 route via eth0; \
             removable medium /dev/sdb1 (disk sdb) mounted at /media/officer/KEY DRIVE; \
             remove the cause and run the ceremony again"
            .to_string())
    );
    // The report round-trips through JSON for the journal.
    let json = serde_json::to_string(&r).expect("json");
    assert!(json.contains("\"check\":\"network-interfaces\",\"passed\":false"));
    let back: keyrite_core::preflight::AirGapReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, r);
}

#[test]
fn usb_disk_that_claims_not_removable_is_still_found() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    clean(root);
    let dev = root.join("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/host6/block/sdc");
    fs::create_dir_all(dev.join("sdc1")).expect("mkdir");
    fs::write(dev.join("removable"), "0\n").expect("write");
    fs::create_dir_all(root.join("sys/block")).expect("mkdir");
    std::os::unix::fs::symlink(&dev, root.join("sys/block/sdc")).expect("symlink");
    write(root, "proc/mounts", "/dev/sdc1 /mnt ext4 rw 0 0\n");
    let r = AirGapCheck::new(root).run();
    assert_eq!(
        r.findings(),
        ["removable medium /dev/sdc1 (disk sdc) mounted at /mnt"]
    );
}

#[test]
fn unreadable_proc_fails_rather_than_passes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    clean(root);
    fs::remove_file(root.join("proc/net/route")).expect("rm");
    let r = AirGapCheck::new(root).run();
    let route = r
        .checks
        .iter()
        .find(|c| c.check == CheckKind::DefaultRoute)
        .expect("route check");
    assert!(!route.passed);
    assert_eq!(
        route.reason,
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            root.join("proc/net/route").display()
        )
    );
}

#[test]
fn clock_reading_and_judgement() {
    let r = ClockReading::from_unix(1_772_330_400);
    assert_eq!(r.utc, "2026-03-01T02:00:00Z");
    assert_eq!(ClockReading::from_unix(0).utc, "1970-01-01T00:00:00Z");
    assert_eq!(
        ClockReading::from_unix(951_827_696).utc,
        "2000-02-29T12:34:56Z"
    );
    let ok = ClockCheckResult::judge(
        r.clone(),
        ClockConfirmation {
            witness: "Dana Witness".into(),
            reference: "GPS wristwatch".into(),
            offset_seconds: -4,
        },
        120,
    );
    assert!(ok.passed);
    assert_eq!(
        ok.reason,
        "system clock 2026-03-01T02:00:00Z (-4 s against GPS wristwatch, confirmed by Dana Witness); tolerance 120 s: within tolerance"
    );
    let bad = ClockCheckResult::judge(
        r,
        ClockConfirmation {
            witness: "Dana Witness".into(),
            reference: "GPS wristwatch".into(),
            offset_seconds: 3600,
        },
        120,
    );
    assert!(!bad.passed);
    assert!(bad.reason.ends_with("+3600 s against GPS wristwatch, confirmed by Dana Witness); tolerance 120 s: OUT OF TOLERANCE"));
}

#[test]
fn this_machine_can_be_checked() {
    // The real root: the result depends on the machine, but every check must produce a reason.
    let r = AirGapCheck::default().run();
    assert_eq!(r.checks.len(), 5);
    assert!(r
        .checks
        .iter()
        .all(|c| !c.reason.is_empty() && c.passed == c.findings.is_empty()));
}
