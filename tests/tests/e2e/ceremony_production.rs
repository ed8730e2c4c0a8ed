//! Production refusals of `keyrite ceremony run`, each before the HSM is touched: an answers
//! file, and a software token (SoftHSM2) where the profile expects hardware.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::{answers, script};
use keyrite_testkit::{keyrite, keyrite_with_env, stderr, stdout, TempData};
use serial_test::serial;

/// A production profile pointing at SoftHSM2's module and the rehearsal token.
fn production_profile(t: &TempData) -> std::path::PathBuf {
    let p = t.scratch("production.toml");
    std::fs::write(
        &p,
        "version = 1\n[site]\nname = \"Vault room B\"\nmode = \"production\"\n[hsm]\n\
         module = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"keyrite-rehearsal\"\n\
         [hsm.expect]\nmanufacturer = \"SoftHSM project\"\nmodel = \"SoftHSM v2\"\nserial = \"0000\"\n",
    )
    .expect("write profile");
    p
}

fn token_object_files(data: &std::path::Path) -> usize {
    walk(&data.join("softhsm/tokens"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    walk(&p)
                } else {
                    1
                }
            })
            .sum()
        })
        .unwrap_or(0)
}

#[test]
#[serial(softhsm)]
fn answers_file_is_refused_in_production() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let profile = production_profile(&t);
    let o = keyrite(
        &data,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "ceremony",
            "run",
            script("root-key-generation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        "keyrite: error: production ceremony refused: an answers file is refused in production: \
         every answer is given by the people in the room\n"
    );
}

#[test]
#[serial(softhsm)]
fn software_token_is_refused_in_production_before_any_operation() {
    let t = TempData::new();
    let data = t.path();
    // Create the rehearsal SoftHSM2 token first, then point a production profile at it.
    assert!(keyrite(&data, &["hsm", "info"]).status.success());
    let before = token_object_files(&data);
    let profile = production_profile(&t);
    let conf = data.join("softhsm/softhsm2.conf");
    let o = keyrite_with_env(
        &data,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "ceremony",
            "run",
            script("root-key-generation").to_str().unwrap(),
        ],
        &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // The refusal is all it prints: no checklist, no header of a ceremony that never started.
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "keyrite: error: HSM identity check refused token \"keyrite-rehearsal\" (serial "
        ),
        "{err}"
    );
    assert!(
        err.ends_with(
            "): it is a software token (SoftHSM project SoftHSM v2) whose keys live in host \
             files; production needs a hardware HSM; no operation was performed\n"
        ),
        "{err}"
    );
    assert_eq!(
        token_object_files(&data),
        before,
        "the token was not touched"
    );
}
