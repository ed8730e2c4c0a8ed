//! From the serde view of a script to the checked model: every rule, every message.

use super::action::ActionKind;
use super::compliance::ComplianceRef;
use super::error::{Problem, ProblemKind};
use super::ids::{ScriptId, StepId, Threshold};
use super::locate::{KeyPath, Locator};
use super::params::{check_params, describe};
use super::raw::{RawRoles, RawScript, RawStep};
use super::roles::{Role, Roles, SignOff, SignOffCount};
use super::Step;
use std::collections::{BTreeSet, HashMap};

/// The checked parts of a script (everything but file name, bytes and digest).
pub(super) struct Checked {
    pub id: ScriptId,
    pub version: String,
    pub title: String,
    pub purpose: String,
    pub roles: Roles,
    pub steps: Vec<Step>,
}

pub(super) struct Ctx<'a> {
    loc: &'a Locator<'a>,
    problems: Vec<Problem>,
    /// Custodians are declared but their K of N is refused: already reported, so steps do
    /// not also complain that there are no custodians.
    custodians_refused: bool,
}

impl Ctx<'_> {
    pub(super) fn report(&mut self, path: &KeyPath, kind: ProblemKind) {
        let (line, column) = self.loc.at(path);
        self.problems.push(Problem {
            line,
            column,
            key: path.to_string(),
            kind,
        });
    }
}

/// Checks every rule; returns all problems found, in file order.
pub(super) fn check(raw: RawScript, loc: &Locator<'_>) -> Result<Checked, Vec<Problem>> {
    let mut cx = Ctx {
        loc,
        problems: Vec::new(),
        custodians_refused: false,
    };
    let root = KeyPath::root();

    let id = ScriptId::new(&raw.id)
        .map_err(|source| {
            cx.report(
                &root.key("id"),
                ProblemKind::BadId {
                    what: "script id",
                    source,
                },
            )
        })
        .ok();
    for (key, value) in [
        ("version", &raw.version),
        ("title", &raw.title),
        ("purpose", &raw.purpose),
    ] {
        if value.trim().is_empty() {
            cx.report(&root.key(key), ProblemKind::Empty(key.to_string()));
        }
    }
    let roles = check_roles(&mut cx, &raw.roles);

    if raw.steps.is_empty() {
        cx.report(&root, ProblemKind::NoSteps);
    }
    let mut steps = Vec::new();
    let mut first_use: HashMap<String, usize> = HashMap::new();
    let mut used: BTreeSet<Role> = BTreeSet::new();
    let mut preflight_seen = false;
    for (i, rs) in raw.steps.iter().enumerate() {
        let path = root.key("steps").index(i);
        if let Some(step) = check_step(
            &mut cx,
            &path,
            i,
            rs,
            &roles,
            &mut first_use,
            &mut used,
            &mut preflight_seen,
        ) {
            steps.push(step);
        }
    }

    // Roles declared that no step can fill.
    for role in Role::ALL {
        if roles.count(role) > 0 && !used.contains(&role) {
            let key = match role {
                Role::Custodian => "custodians",
                r => r.name(),
            };
            cx.report(
                &root.key("roles").key(key),
                ProblemKind::RoleUnused { role: role.name() },
            );
        }
    }

    // Whole-script order rules, only meaningful once every step is well formed.
    if cx.problems.is_empty() && !steps.is_empty() {
        check_order(&mut cx, &steps, &roles);
    }

    let mut problems = cx.problems;
    if let (Some(id), true) = (id, problems.is_empty()) {
        Ok(Checked {
            id,
            version: raw.version,
            title: raw.title,
            purpose: raw.purpose,
            roles,
            steps,
        })
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(problems)
    }
}

fn check_roles(cx: &mut Ctx<'_>, raw: &RawRoles) -> Roles {
    let base = KeyPath::root().key("roles");
    let mut count = |key: &'static str, n: u32, min: u32| -> u8 {
        if n < min || n > 16 {
            cx.report(
                &base.key(key),
                ProblemKind::RoleCount {
                    role: key,
                    count: n,
                    min,
                },
            );
            0
        } else {
            n as u8
        }
    };
    let administrators = count("administrator", raw.administrator, 1);
    let witnesses = count("witness", raw.witness, 0);
    let auditors = count("auditor", raw.auditor, 0);
    let custodians = raw.custodians.as_ref().and_then(|c| {
        cx.custodians_refused = true;
        Threshold::new(c.threshold, c.total)
            .map_err(|e| {
                let key = match e {
                    super::ids::ThresholdError::TooMany { .. } => "total",
                    _ => "threshold",
                };
                cx.report(&base.key("custodians").key(key), ProblemKind::Threshold(e));
            })
            .ok()
    });
    if custodians.is_some() {
        cx.custodians_refused = false;
    }
    let mut roles = Roles {
        administrators,
        witnesses,
        auditors,
        custodians,
        combinations: Vec::new(),
    };
    for (i, pair) in raw.combine.iter().enumerate() {
        let named: Vec<Option<Role>> = pair.iter().map(|r| Role::from_name(r)).collect();
        let problem = match named.as_slice() {
            [Some(a), Some(b)] if a == b => Some(format!("{a} is named twice")),
            [Some(a), Some(b)] => [a, b]
                .into_iter()
                .find(|r| {
                    roles.count(**r) == 0 && !(**r == Role::Custodian && cx.custodians_refused)
                })
                .map(|r| format!("[roles] declares no {r}")),
            [_, _] => Some(format!(
                "{} is not a role; roles are administrator, witness, custodian, auditor",
                pair.iter()
                    .find(|r| Role::from_name(r).is_none())
                    .map(|r| format!("\"{r}\""))
                    .unwrap_or_default()
            )),
            _ => Some(format!("it names {} roles, not two", pair.len())),
        };
        match (problem, named.as_slice()) {
            (Some(problem), _) => cx.report(
                &base.key("combine").index(i),
                ProblemKind::RoleCombination { problem },
            ),
            (None, [Some(a), Some(b)]) => roles.combinations.push([*a, *b]),
            (None, _) => {}
        }
    }
    roles
}

#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct input of the operation; a struct would only rename them"
)]
fn check_step(
    cx: &mut Ctx<'_>,
    path: &KeyPath,
    index: usize,
    rs: &RawStep,
    roles: &Roles,
    first_use: &mut HashMap<String, usize>,
    used: &mut BTreeSet<Role>,
    preflight_seen: &mut bool,
) -> Option<Step> {
    let before = cx.problems.len();
    let name = rs.id.clone();
    let id = match StepId::new(&rs.id) {
        Ok(id) => Some(id),
        Err(source) => {
            cx.report(
                &path.key("id"),
                ProblemKind::BadId {
                    what: "step id",
                    source,
                },
            );
            None
        }
    };
    if let Some(first) = first_use.get(&rs.id) {
        cx.report(
            &path.key("id"),
            ProblemKind::DuplicateStep {
                step: name.clone(),
                first: first + 1,
            },
        );
    } else {
        first_use.insert(rs.id.clone(), index);
    }
    if rs.title.trim().is_empty() {
        cx.report(
            &path.key("title"),
            ProblemKind::Empty(format!("the title of step \"{name}\"")),
        );
    }
    if rs.instructions.trim().is_empty() {
        cx.report(
            &path.key("instructions"),
            ProblemKind::EmptyInstructions(name.clone()),
        );
    }

    let role = match Role::from_name(&rs.role) {
        None => {
            cx.report(&path.key("role"), ProblemKind::UnknownRole(rs.role.clone()));
            None
        }
        Some(r) if roles.count(r) == 0 => {
            cx.report(
                &path.key("role"),
                ProblemKind::RoleUndeclared {
                    step: name.clone(),
                    role: r.name(),
                },
            );
            None
        }
        Some(r) => {
            used.insert(r);
            Some(r)
        }
    };

    let action = match ActionKind::from_name(&rs.action) {
        None => {
            cx.report(
                &path.key("action"),
                ProblemKind::UnknownAction {
                    action: rs.action.clone(),
                    known: ActionKind::all_names(),
                },
            );
            None
        }
        Some(kind) => {
            if kind.needs_custodians() {
                if roles.custodians.is_none() {
                    if !cx.custodians_refused {
                        cx.report(
                            &path.key("action"),
                            ProblemKind::ActionNeedsCustodians {
                                step: name.clone(),
                                action: kind.name(),
                            },
                        );
                    }
                } else {
                    used.insert(Role::Custodian);
                }
            }
            if kind.needs_quorum() && !rs.quorum {
                cx.report(
                    &path.key("quorum"),
                    ProblemKind::ActionNeedsQuorum {
                        step: name.clone(),
                        action: kind.name(),
                    },
                );
            }
            if kind.touches_hsm() && !*preflight_seen {
                cx.report(
                    &path.key("action"),
                    ProblemKind::HsmBeforePreflight {
                        step: name.clone(),
                        action: kind.name(),
                    },
                );
            }
            if kind == ActionKind::Preflight {
                *preflight_seen = true;
            }
            check_params(cx, path, &name, kind, &rs.params)
        }
    };

    if rs.quorum {
        if roles.custodians.is_none() && !cx.custodians_refused {
            cx.report(
                &path.key("quorum"),
                ProblemKind::QuorumWithoutCustodians { step: name.clone() },
            );
        } else {
            used.insert(Role::Custodian);
        }
    }

    let sign_offs = check_sign_offs(cx, path, &name, &rs.sign_off, roles, used);
    // A step is never signed off by who performed it: a sign-off of the step's own role
    // needs that many people of the role besides the one acting.
    if let Some(actor) = role {
        for so in sign_offs.iter().filter(|so| so.role == actor) {
            let declared = roles.count(actor);
            let need = so.needed(roles);
            if need >= declared {
                cx.report(
                    &path.key("sign_off").key(actor.name()),
                    ProblemKind::SignOffByActor {
                        step: name.clone(),
                        role: actor.name(),
                        need: u32::from(need),
                        declared: u32::from(declared),
                    },
                );
            }
        }
    }

    let mut compliance = Vec::new();
    for (j, c) in rs.compliance.iter().enumerate() {
        match ComplianceRef::parse(c) {
            Some(r) => compliance.push(r),
            None => cx.report(
                &path.key("compliance").index(j),
                ProblemKind::BadCompliance(c.clone()),
            ),
        }
    }

    if cx.problems.len() != before {
        return None;
    }
    let (line, _) = cx.loc.at(path);
    Some(Step {
        number: index + 1,
        line,
        id: id?,
        title: rs.title.clone(),
        role: role?,
        action: action?,
        instructions: rs.instructions.clone(),
        sign_offs,
        quorum: rs.quorum,
        compliance,
    })
}

fn check_sign_offs(
    cx: &mut Ctx<'_>,
    path: &KeyPath,
    step: &str,
    table: &toml::Table,
    roles: &Roles,
    used: &mut BTreeSet<Role>,
) -> Vec<SignOff> {
    let spath = path.key("sign_off");
    let mut out = Vec::new();
    for (key, v) in table {
        let kpath = spath.key(key);
        let Some(role) = Role::from_name(key) else {
            cx.report(
                &kpath,
                ProblemKind::UnknownKey {
                    key: key.clone(),
                    allowed: "administrator, witness, custodian, auditor".into(),
                },
            );
            continue;
        };
        // Named by a step, so the role is "used" even if the count below is refused.
        used.insert(role);
        let count = match v {
            toml::Value::Integer(0) => {
                cx.report(
                    &kpath,
                    ProblemKind::SignOffZero {
                        step: step.to_string(),
                        role: role.name(),
                    },
                );
                continue;
            }
            toml::Value::Integer(n) if (1..=16).contains(n) => SignOffCount::Exactly(*n as u8),
            toml::Value::String(s) if s == "all" => SignOffCount::All,
            toml::Value::String(s) if s == "threshold" && role == Role::Custodian => {
                SignOffCount::Threshold
            }
            other => {
                cx.report(
                    &kpath,
                    ProblemKind::SignOffValue {
                        step: step.to_string(),
                        role: role.name(),
                        extra: if role == Role::Custodian {
                            ", or \"threshold\""
                        } else {
                            ""
                        },
                        found: match other {
                            toml::Value::String(s) => format!("\"{s}\""),
                            o => describe(o),
                        },
                    },
                );
                continue;
            }
        };
        let declared = roles.count(role);
        if role == Role::Custodian && cx.custodians_refused {
            continue;
        }
        let so = SignOff { role, count };
        let need = match count {
            SignOffCount::Exactly(n) => n,
            _ => so.needed(roles).max(1),
        };
        if declared == 0 || need > declared {
            cx.report(
                &kpath,
                ProblemKind::SignOffTooMany {
                    step: step.to_string(),
                    role: role.name(),
                    need: u32::from(need),
                    declared: u32::from(declared),
                },
            );
            continue;
        }
        used.insert(role);
        out.push(so);
    }
    out
}

fn check_order(cx: &mut Ctx<'_>, steps: &[Step], roles: &Roles) {
    let steps_path = KeyPath::root().key("steps");
    for (i, s) in steps.iter().enumerate() {
        if !s.action.kind().makes_shares() {
            continue;
        }
        let n = roles.custodians.map(|t| t.n()).unwrap_or(0);
        let verified = steps[i + 1..].iter().any(|later| {
            later.action.kind() == ActionKind::VerifyShares
                && later
                    .sign_offs
                    .iter()
                    .any(|so| so.role == Role::Custodian && so.needed(roles) == n)
        });
        if !verified {
            cx.report(
                &steps_path.index(i).key("action"),
                ProblemKind::SharesNotVerified {
                    step: s.id.to_string(),
                    n,
                },
            );
        }
    }
    if let Some(last) = steps.last() {
        if last.action.kind() != ActionKind::SignRecord {
            cx.report(
                &steps_path.index(steps.len() - 1).key("action"),
                ProblemKind::NoSignRecordAtEnd(last.id.to_string()),
            );
        }
    }
}
