//! The plan: desired resources against the state and the live configuration.
//! A plain value, computed without any AWS call, unit-tested as such.

use std::collections::BTreeMap;

use serde::Serialize;

use super::state::State;
use crate::model::{logical_id, same_owner, Kind, LogicalId, Props, Resource, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Unchanged => " ",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub id: LogicalId,
    pub kind: Kind,
    pub function: String,
    pub physical: String,
    pub action: Action,
    /// What differs between the manifest and AWS.
    pub fields: Vec<FieldChange>,
    /// Fields changed in AWS behind sls-rs's back (live differs from the state).
    pub drift: Vec<String>,
    /// Functions: a new version must be published.
    pub publish: bool,
    /// Functions: the `live` alias must move (to the new version, or back to the recorded one).
    pub move_alias: bool,
    /// Functions: provisioned concurrency to set on the alias (`Some(None)`: remove it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<Option<u32>>,
    /// It exists in AWS, tagged as this service's, but the state does not know it
    /// (a deploy died before recording it, or `remove` kept it): record it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// A bucket or queue the state holds that the manifest now declares `existing:`
    /// under the same name: forgotten, never deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub release: bool,
    /// Data resources: the manifest's deletionPolicy changed (`delete` or `retain`); only the state changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    /// Its physical name changed (a queue switched to FIFO, a renamed role): this one is
    /// new, and the old one (this name) goes in the delete phase, kept if it holds data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Functions: pinned by a rollback at this version, and staying there (nothing of the
    /// function changed and no `--unpin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// Functions: this deploy releases the rollback's pin (the function changed, or `--unpin`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unpin: bool,
    /// In-place changes that disrupt live traffic or lose events, in words; a deploy
    /// carries them out only with `--allow-disruption`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disruptions: Vec<String>,
    /// The old half of a replacement: the new one's physical name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Functions: how the alias takes the new version when it is not all at once
    /// (`canary: 10% for 5m, then all`), filled in by the engine from the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutover: Option<String>,
}

impl Change {
    pub fn is_noop(&self) -> bool {
        self.action == Action::Unchanged
            && !self.publish
            && !self.move_alias
            && self.provisioned.is_none()
            && !self.adopt
            && !self.unpin
            && self.deletion_policy.is_none()
    }
}

/// What was read back from AWS for each resource in the state or the manifest.
#[derive(Debug, Default, Clone)]
pub struct Live {
    /// `None`: it does not exist.
    pub props: BTreeMap<LogicalId, Option<Props>>,
    /// Functions: the version the `live` alias points at (`None`: no alias).
    pub alias: BTreeMap<LogicalId, Option<String>>,
    /// Functions: the environment of the version the state records, fingerprinted like the
    /// desired one. It stands in for the recorded environment, which the state does not keep
    /// (see `model::EnvKey`).
    pub published_env: BTreeMap<LogicalId, Props>,
    /// Functions: provisioned concurrency on the `live` alias (`None`: none, or FAILED).
    /// Absent where it could not be read (an emulator without the API): the state is trusted.
    pub provisioned: BTreeMap<LogicalId, Option<u32>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Resources that exist under a name the service needs but are not the service's:
    /// deploy stops before touching anything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Lambda versions nothing needs (see `State::prunable`), deleted once the deploy succeeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune: Vec<super::state::Prunable>,
}

impl Plan {
    /// Marks the deletions of tables, buckets and queues whose names the manifest now
    /// gives as `existing:`: the service lets go of them instead of deleting them.
    pub fn release(&mut self, existing: &std::collections::BTreeSet<String>) {
        for c in &mut self.changes {
            if c.action == Action::Delete && c.kind.holds_data() && existing.contains(&c.physical) {
                c.release = true;
            }
        }
    }

    /// The plan as a table: `+` create, `~` update (with the fields), `-` delete, drift marked.
    pub fn render(&self) -> String {
        if !self.conflicts.is_empty() {
            return format!("cannot deploy:\n  {}", self.conflicts.join("\n  "));
        }
        let changes: Vec<&Change> = self.changes.iter().filter(|c| !c.is_noop()).collect();
        if changes.is_empty() {
            let pinned: Vec<String> = self
                .changes
                .iter()
                .filter_map(|c| Some(format!("{} at version {}", c.function, c.pinned.as_ref()?)))
                .collect();
            if !pinned.is_empty() {
                return format!(
                    "no changes: everything is as the manifest says\npinned by rollback (a change to the function or `--unpin [NAME]` releases it): {}",
                    pinned.join(", ")
                );
            }
            return "no changes: everything is as the manifest says".into();
        }
        let mut rows = Vec::new();
        // The old half of a replacement is told on the new half's row.
        for c in changes.iter().filter(|c| c.replaced_by.is_none()) {
            let mut detail: Vec<String> = c
                .fields
                .iter()
                .filter(|_| c.action == Action::Update)
                .map(|f| match (&f.from, &f.to) {
                    (_, _)
                        if f.field.starts_with("env.")
                            || f.field == "policy"
                            || f.field == "trustPolicy"
                            || f.field == "code" =>
                    {
                        format!("{} changed", f.field)
                    }
                    // Definitions, CORS rules and the like are too long for a table row.
                    (Some(a), Some(b)) if a.len() + b.len() > 100 => {
                        format!("{} changed", f.field)
                    }
                    (Some(a), Some(b)) => format!("{} {a} → {b}", f.field),
                    (None, Some(b)) => format!("{} + {b}", f.field),
                    (Some(a), None) => format!("{} - {a}", f.field),
                    (None, None) => f.field.clone(),
                })
                .collect();
            if let Some(old) = &c.replaces {
                detail.insert(
                    0,
                    format!(
                        "replaces {old} (the name changes): the new one is made, then the old one is deleted{}",
                        if c.kind.holds_data() {
                            " if it is empty or allowed (else kept and listed)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            for d in &c.disruptions {
                detail.push(format!("DISRUPTIVE: {d}"));
            }
            if c.publish && c.kind == Kind::Function {
                detail.push("new version".into());
            }
            if c.unpin {
                detail.push("rollback pin released".into());
            }
            if c.move_alias && !c.publish {
                detail.push("live alias moves to the latest version".into());
            }
            if let Some(cutover) = &c.cutover {
                detail.push(format!("shifted gradually ({cutover})"));
            }
            if let Some(pc) = c.provisioned {
                detail.push(format!(
                    "provisioned concurrency {}",
                    pc.map_or_else(|| "off".into(), |n| n.to_string())
                ));
            }
            if let Some(policy) = c.deletion_policy {
                detail.push(format!("deletionPolicy {policy}"));
            }
            if c.release {
                detail.push("released: now declared `existing:`, kept as it is".into());
            }
            if c.adopt {
                detail.push(
                    "adopted: found in AWS with this service's tags, not in the state".into(),
                );
            }
            if !c.drift.is_empty() {
                detail.push(format!(
                    "DRIFT (changed outside sls-rs: {})",
                    c.drift.join(", ")
                ));
            }
            rows.push([
                if c.replaces.is_some() {
                    "-/+".to_string()
                } else {
                    c.action.symbol().to_string()
                },
                c.kind.noun().to_string(),
                c.physical.clone(),
                detail.join("; "),
            ]);
        }
        let replaced = self.replacements();
        let summary = format!(
            "plan: {} to create, {} to update, {}{} to delete{}",
            self.count(Action::Create) - replaced,
            changes
                .iter()
                .filter(|c| c.replaces.is_none())
                .filter(|c| c.action == Action::Update || (c.action == Action::Unchanged))
                .count(),
            if replaced > 0 {
                format!("{replaced} to replace, ")
            } else {
                String::new()
            },
            self.count(Action::Delete) - replaced,
            if self.drifted() > 0 {
                format!(", {} drifted", self.drifted())
            } else {
                String::new()
            }
        );
        let pinned: Vec<String> = self
            .changes
            .iter()
            .filter_map(|c| Some(format!("{} at version {}", c.function, c.pinned.as_ref()?)))
            .collect();
        let pinned = if pinned.is_empty() {
            String::new()
        } else {
            format!(
                "\npinned by rollback (a change to the function or `--unpin [NAME]` releases it): {}",
                pinned.join(", ")
            )
        };
        let disruptive = self.disruptions().len();
        let warning = if disruptive > 0 {
            format!("\n{disruptive} disruptive change(s): deploy carries them out only with `--allow-disruption`")
        } else {
            String::new()
        };
        format!(
            "{}{summary}{pinned}{warning}{}",
            crate::ui::table(&rows),
            self.render_prune()
        )
    }

    /// `then 3 old Lambda versions deleted (…): a 1, 2; b 4`, or nothing.
    fn render_prune(&self) -> String {
        if self.prune.is_empty() {
            return String::new();
        }
        let mut by_function: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in &self.prune {
            by_function
                .entry(p.function.as_str())
                .or_default()
                .push(p.version.as_str());
        }
        let list: Vec<String> = by_function
            .iter()
            .map(|(f, v)| format!("{f} {}", v.join(", ")))
            .collect();
        format!(
            "\nthen {} old Lambda version(s) deleted (no alias and none of the remembered deployments uses them; one DeleteFunction each): {}",
            self.prune.len(),
            list.join("; ")
        )
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| !c.is_noop())
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Every disruptive change, naming its resource: what `--allow-disruption` allows.
    pub fn disruptions(&self) -> Vec<String> {
        self.changes
            .iter()
            .flat_map(|c| {
                c.disruptions
                    .iter()
                    .map(move |d| format!("{} {}: {d}", c.kind.noun(), c.physical))
            })
            .collect()
    }

    /// Resources made anew under a new name, the old one going in the delete phase.
    pub fn replacements(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.replaced_by.is_some())
            .count()
    }

    pub fn drifted(&self) -> usize {
        self.changes.iter().filter(|c| !c.drift.is_empty()).count()
    }
}

/// Tags are compared only where they are ours: AWS and other tools add their own. A
/// property the answer left out (`UNREPORTED`) is what the state recorded, else what
/// the manifest wants: unknown is never a change nor drift.
fn comparable(props: &Props, desired: &Props, recorded: Option<&Props>) -> Props {
    props
        .iter()
        .filter(|(k, _)| *k != crate::model::UNCLAIMED)
        .filter(|(k, _)| {
            !k.starts_with("tags.")
                || desired.contains_key(*k)
                || recorded.is_some_and(|r| r.contains_key(*k))
        })
        .filter_map(|(k, v)| {
            if v != crate::model::UNREPORTED {
                return Some((k.clone(), v.clone()));
            }
            let known = recorded.and_then(|r| r.get(k)).or_else(|| desired.get(k))?;
            Some((k.clone(), known.clone()))
        })
        .collect()
}

fn diff(from: &Props, to: &Props) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = from.keys().chain(to.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| from.get(*k) != to.get(*k))
        .map(|k| {
            // Environment values are never shown, not even as hashes.
            let shown = |p: &Props| {
                if k.starts_with("env.") {
                    None
                } else {
                    p.get(k).cloned()
                }
            };
            FieldChange {
                field: k.clone(),
                from: shown(from),
                to: shown(to),
            }
        })
        .collect()
}

/// What an in-place update does to live traffic, when it does more than change a setting:
/// a stream whose view type changes is a new stream (DynamoDB disables the old one and
/// enables another: records written in between are in neither, and stream triggers
/// start again on the new one); an index whose keys or projection change is deleted and
/// built again (queries on it fail until the new one is ACTIVE).
pub fn disruptions(kind: Kind, fields: &[FieldChange]) -> Vec<String> {
    if kind != Kind::Table {
        return Vec::new();
    }
    let on = |v: &Option<String>| v.as_deref().is_some_and(|v| v != "off");
    fields
        .iter()
        .filter_map(|f| {
            let (from, to) = (f.from.as_deref()?, f.to.as_deref()?);
            if f.field == "stream" && on(&f.from) && on(&f.to) {
                Some(format!(
                    "the stream's view type changes ({from} → {to}): DynamoDB disables the old stream and enables a new one, so changes written in between are lost to stream triggers, which start again on the new stream"
                ))
            } else {
                f.field.strip_prefix("gsi.").map(|index| format!(
                    "index {index} changes ({from} → {to}): it is deleted and built again, and queries on it fail until the new one is ACTIVE"
                ))
            }
        })
        .collect()
}

/// The properties a published version captures; the rest (tags, reserved
/// concurrency) applies to the function whatever the version.
pub fn is_versioned(field: &str) -> bool {
    field.starts_with("env.")
        || field.starts_with("vpc.")
        || [
            "code",
            "architecture",
            "memorySize",
            "timeout",
            "role",
            "tracing",
            "description",
            "ephemeralStorageSize",
            "layers",
            "logFormat",
            "applicationLogLevel",
            "systemLogLevel",
        ]
        .contains(&field)
}

fn versioned(props: &Props) -> Props {
    props
        .iter()
        .filter(|(k, _)| is_versioned(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Between a logical id and the old physical name in the key of a replaced resource.
const REPLACED: &str = "#replaced:";

/// The state key of a replaced resource's old record, until the delete phase deals with it.
pub fn replaced_key(id: &str, old_physical: &str) -> LogicalId {
    format!("{id}{REPLACED}{old_physical}")
}

/// The logical id a state key is the old half of a replacement of (see `set_aside_replaced`).
pub fn replaced_of(key: &str) -> Option<&str> {
    key.split_once(REPLACED).map(|(id, _)| id)
}

/// A resource whose physical name changes under the same logical id (a queue switched
/// to FIFO gets `.fifo`, a role renamed) cannot be updated: it is a replacement. The new
/// one is made under the logical id, and the old record is set aside under its own key
/// (`replaced_key`), so that the delete phase treats it as a dropped resource (deleted,
/// or kept and listed when it holds data) and a deploy killed in between still knows it.
/// Works for every kind; returns how many were set aside.
pub fn set_aside_replaced(state: &mut State, desired: &[Resource]) -> usize {
    let mut n = 0;
    for r in desired {
        // A rename given up before the old one was deleted: the old record comes back.
        let back = state.resources.remove(&replaced_key(&r.id, &r.physical));
        let renamed = state
            .resources
            .get(&r.id)
            .is_some_and(|rec| rec.physical != r.physical);
        if let Some(rec) = renamed.then(|| state.resources.remove(&r.id)).flatten() {
            state
                .resources
                .insert(replaced_key(&r.id, &rec.physical), rec);
            n += 1;
        }
        if let Some(rec) = back {
            state.resources.entry(r.id.clone()).or_insert(rec);
        }
    }
    n
}

/// What AWS says `live` points at wins over the state: a run killed between its
/// UpdateAlias and the next state save left the state behind. Corrects the state's
/// `live` of every function whose alias was read; returns the corrections, in words.
pub fn relearn_aliases(state: &mut State, live: &Live) -> Vec<String> {
    let mut out = Vec::new();
    // Only a run of ours that died can have moved an alias without recording it, and it
    // leaves its deployment record open. Otherwise an alias elsewhere is drift: the plan
    // reports it and moves it back (and a rollback pin stays where rollback put it).
    if state
        .deployments
        .last()
        .is_none_or(|d| d.status != "in progress")
    {
        return out;
    }
    for (id, rec) in state.resources.iter_mut() {
        let Some(Some(at)) = live.alias.get(id).filter(|_| rec.kind == Kind::Function) else {
            continue;
        };
        if rec.live.as_ref() != Some(at) {
            out.push(format!(
                "the `live` alias of {} points at version {at}, the state said {}: recorded as AWS says",
                rec.physical,
                rec.live.as_deref().unwrap_or("none")
            ));
            rec.live = Some(at.clone());
        }
    }
    out
}

/// Which rollback pins a deploy releases besides those of changed functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Unpin {
    #[default]
    None,
    All,
    Only(Vec<String>),
}

impl Unpin {
    fn releases(&self, function: &str) -> bool {
        match self {
            Unpin::None => false,
            Unpin::All => true,
            Unpin::Only(names) => names.iter().any(|n| n == function),
        }
    }
}

/// What sls-rs last wrote: the state's properties, with the environment of the
/// published version in place of any fingerprint an older state kept.
fn recorded_props(rec: &super::state::Recorded, published_env: Option<&Props>) -> Props {
    let mut props = crate::model::recordable(rec.props.clone());
    props.extend(published_env.cloned().unwrap_or_default());
    props
}

pub fn plan(desired: &[Resource], state: &State, live: &Live) -> Plan {
    plan_with(desired, state, live, &Unpin::None)
}

/// The plan, releasing the rollback pins `unpin` names.
pub fn plan_with(desired: &[Resource], state: &State, live: &Live, unpin: &Unpin) -> Plan {
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    for r in desired {
        let want = r.props();
        let recorded = state.resources.get(&r.id);
        let recorded_props = recorded.map(|rec| recorded_props(rec, live.published_env.get(&r.id)));
        let live_props = live.props.get(&r.id).cloned().flatten();
        // Something live that the state does not know is adopted only when its tags say it is ours
        // (a deploy died before recording it); anything else is someone else's.
        if let (None, Some(have)) = (recorded, &live_props) {
            let ours = same_owner(
                |t| have.get(&format!("tags.{t}")),
                |t| want.get(&format!("tags.{t}")),
            );
            let unclaimed = have.contains_key(crate::model::UNCLAIMED);
            if r.kind.tagged() && !ours && !unclaimed {
                conflicts.push(format!(
                    "{} {} exists and is not this service's (its tags do not name it); rename the service or stage, or delete it",
                    r.kind.noun(),
                    r.physical
                ));
            }
        }
        let (action, fields, drift) = match &live_props {
            None => (Action::Create, diff(&Props::new(), &want), Vec::new()),
            Some(have) => {
                let have = comparable(have, &want, recorded_props.as_ref());
                let fields = diff(&have, &want);
                // A field the record does not hold was never recorded (the state predates
                // sls-rs reading it): its value is news, not drift.
                let drift = match &recorded_props {
                    Some(rec) => diff(rec, &have)
                        .into_iter()
                        .filter(|f| rec.contains_key(&f.field) || !want.contains_key(&f.field))
                        .map(|f| f.field)
                        .collect(),
                    None => Vec::new(),
                };
                (
                    if fields.is_empty() {
                        Action::Unchanged
                    } else {
                        Action::Update
                    },
                    fields,
                    drift,
                )
            }
        };
        // Changing a key schema (or a queue's FIFO-ness) means a new resource: the data would not follow.
        let immutable: Vec<&FieldChange> = fields
            .iter()
            .filter(|f| {
                action == Action::Update && r.kind.immutable_fields().contains(&f.field.as_str())
            })
            .collect();
        for f in immutable {
            conflicts.push(format!(
                "{} {}: `{}` cannot change in place ({} → {}); AWS would need a new {}, and its data would not follow. Keep the old value, or give the resource a new name (the old one is retained)",
                r.kind.noun(),
                r.physical,
                f.field,
                f.from.as_deref().unwrap_or("none"),
                f.to.as_deref().unwrap_or("none"),
                r.kind.noun(),
            ));
        }
        let disrupted = if action == Action::Update {
            disruptions(r.kind, &fields)
        } else {
            Vec::new()
        };
        let mut change = Change {
            id: r.id.clone(),
            kind: r.kind,
            function: r.function.clone(),
            physical: r.physical.clone(),
            action,
            fields,
            drift,
            publish: false,
            move_alias: false,
            provisioned: None,
            adopt: recorded.is_none() && live_props.is_some(),
            release: false,
            deletion_policy: recorded
                .filter(|rec| rec.delete_with_data != r.delete_with_data)
                .map(|_| {
                    if r.delete_with_data {
                        "delete"
                    } else {
                        "retain"
                    }
                }),
            pinned: None,
            unpin: false,
            disruptions: disrupted,
            cutover: None,
            replaces: state
                .resources
                .iter()
                .find(|(key, _)| replaced_of(key) == Some(r.id.as_str()))
                .map(|(_, old)| old.physical.clone()),
            replaced_by: None,
        };
        if let Spec::Function(f) = &r.spec {
            let version = recorded.and_then(|rec| rec.version.clone());
            // The state records a function only once its version is published: recorded
            // versioned properties that differ from the manifest mean a deploy died between
            // updating $LATEST and publishing, even when $LATEST already matches.
            // A versioned field the record lacks was never recorded (the state predates
            // sls-rs reading it, as `ephemeralStorageSize` and `layers`): no sign of that.
            let unpublished = recorded_props.as_ref().is_some_and(|rec| {
                let wanted = versioned(&want);
                let mut had = versioned(rec);
                for (k, v) in &wanted {
                    if !k.starts_with("env.") {
                        had.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                had != wanted
            });
            change.publish = action == Action::Create
                || change.fields.iter().any(|f| is_versioned(&f.field))
                || unpublished
                || version.is_none();
            let alias = live.alias.get(&r.id).cloned().flatten();
            let alias_drifted = recorded.is_some_and(|rec| rec.live.is_some() && alias != rec.live);
            if alias_drifted {
                change.drift.push("alias live".into());
            }
            // A rollback's pin holds until the function changes or `--unpin` releases it.
            let pinned = recorded
                .filter(|rec| rec.pinned)
                .and_then(|rec| rec.live.clone());
            match pinned {
                Some(at) if !change.publish && !unpin.releases(&r.function) => {
                    change.move_alias = alias.as_ref() != Some(&at);
                    change.pinned = Some(at);
                }
                _ => {
                    change.unpin = recorded.is_some_and(|rec| rec.pinned);
                    change.move_alias = change.publish || alias.is_none() || alias != version;
                }
            }
            let recorded_pc = recorded.and_then(|rec| rec.provisioned);
            let live_pc = match live.provisioned.get(&r.id) {
                Some(pc) => *pc,
                None => recorded_pc,
            };
            // With auto scaling, the scaler moves it between the bounds: neither drift
            // nor a change; outside them (or gone), it is set to the nearest bound.
            let wanted = match f.provisioned_range {
                Some((min, max)) => Some(live_pc.map_or(min, |n| n.clamp(min, max))),
                None => f.provisioned_concurrency,
            };
            // Drift is a number sls-rs must set back that no scaler of its own chose: one
            // within the bounds of the scaler sls-rs set up (recorded, or declared now) is
            // the scaler's, and one the manifest wants now is news, not drift.
            let recorded_range = state
                .resources
                .get(&logical_id(Kind::ProvisionedScaling, &r.function))
                .and_then(|rec| {
                    let bound = |k: &str| rec.props.get(k)?.parse::<u32>().ok();
                    Some((bound("minCapacity")?, bound("maxCapacity")?))
                });
            let scaler_chose = live_pc.is_some_and(|n| {
                [recorded_range, f.provisioned_range]
                    .into_iter()
                    .flatten()
                    .any(|(min, max)| (min..=max).contains(&n))
            });
            if recorded.is_some() && live_pc != recorded_pc && wanted != live_pc && !scaler_chose {
                change.drift.push("provisionedConcurrency".into());
            }
            // A function or alias recreated after a manual deletion lost its provisioned concurrency too.
            let recreated = action == Action::Create || alias.is_none();
            if wanted != live_pc || (recreated && wanted.is_some()) {
                change.provisioned = Some(wanted);
            }
        }
        changes.push(change);
    }
    // A stream mapping follows its table's stream: a table whose stream changes
    // gets a new stream, and the mapping must move to it.
    let restreamed: Vec<LogicalId> = changes
        .iter()
        .filter(|c| c.kind == Kind::Table && c.action == Action::Update)
        .filter(|c| c.fields.iter().any(|f| f.field == "stream"))
        .map(|c| c.id.clone())
        .collect();
    for (c, r) in changes.iter_mut().zip(desired) {
        let follows = r.depends_on.iter().any(|d| restreamed.contains(d));
        if r.kind == Kind::EventSourceMapping && follows && c.action != Action::Create {
            c.action = Action::Update;
            if !c.fields.iter().any(|f| f.field == "source") {
                c.fields.push(FieldChange {
                    field: "source".into(),
                    from: Some("the table's previous stream".into()),
                    to: Some("its new stream".into()),
                });
            }
        }
    }
    // What the state owns and the manifest no longer declares, in deletion order:
    // triggers, then what runs, then its role and logs, then data.
    let mut gone: Vec<(&LogicalId, &super::state::Recorded)> = state
        .resources
        .iter()
        .filter(|(id, _)| !desired.iter().any(|r| &r.id == *id))
        .collect();
    gone.sort_by_key(|(id, rec)| (rec.kind.delete_tier(), (*id).clone()));
    for (id, rec) in gone {
        changes.push(Change {
            id: id.clone(),
            kind: rec.kind,
            function: rec.function.clone(),
            physical: rec.physical.clone(),
            action: Action::Delete,
            fields: Vec::new(),
            drift: Vec::new(),
            publish: false,
            move_alias: false,
            provisioned: None,
            adopt: false,
            release: false,
            deletion_policy: None,
            replaces: None,
            pinned: None,
            unpin: false,
            disruptions: Vec::new(),
            cutover: None,
            replaced_by: replaced_of(id).and_then(|of| {
                desired
                    .iter()
                    .find(|r| r.id == of)
                    .map(|r| r.physical.clone())
            }),
        });
    }
    Plan {
        changes,
        conflicts,
        prune: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Recorded;
    use crate::model::{desired, Context};

    fn setup(yaml: &str) -> Vec<Resource> {
        let s = crate::model::tests::service(yaml);
        let cx = Context {
            account: "123456789012",
            region: "us-east-1",
            partition: "arn:aws",
            env_key: Some(&crate::model::EnvKey::fixed(7)),
            queue_url_base: "https://sqs.us-east-1.amazonaws.com",
        };
        desired(&s, &crate::model::tests::package_for(&s), &s.dir, &cx).unwrap()
    }

    const ONE: &str = "service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\n";

    /// The state and live view of a deploy of exactly `resources`.
    fn deployed(resources: &[Resource]) -> (State, Live) {
        let mut state = State::default();
        let mut live = Live::default();
        for r in resources {
            let function = matches!(r.spec, Spec::Function(_));
            state.resources.insert(
                r.id.clone(),
                Recorded {
                    kind: r.kind,
                    function: r.function.clone(),
                    physical: r.physical.clone(),
                    arn: String::new(),
                    props: crate::model::recordable(r.props()),
                    version: function.then(|| "1".into()),
                    live: function.then(|| "1".into()),
                    provisioned: None,
                    pinned: false,
                    delete_with_data: false,
                    versions: vec![],
                    shift: None,
                },
            );
            live.props.insert(r.id.clone(), Some(r.props()));
            if function {
                live.alias.insert(r.id.clone(), Some("1".into()));
                live.published_env.insert(r.id.clone(), env_of(&r.props()));
            }
        }
        (state, live)
    }

    #[test]
    fn a_new_service_creates_everything_and_publishes() {
        let resources = setup(ONE);
        let p = plan(&resources, &State::default(), &Live::default());
        assert_eq!(p.count(Action::Create), 3);
        let f = &p.changes[2];
        assert!(f.publish && f.move_alias);
    }

    #[test]
    fn an_unchanged_service_plans_nothing() {
        let resources = setup(ONE);
        let (state, live) = deployed(&resources);
        let p = plan(&resources, &state, &live);
        assert!(!p.has_changes(), "{p:?}");
    }

    #[test]
    fn a_manifest_change_updates_one_field_of_one_resource() {
        let (state, live) = deployed(&setup(ONE));
        let changed = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, memorySize: 512 }\n");
        let p = plan(&changed, &state, &live);
        let updates: Vec<&Change> = p.changes.iter().filter(|c| !c.is_noop()).collect();
        assert_eq!(updates.len(), 1);
        assert_eq!(
            updates[0].fields,
            [FieldChange {
                field: "memorySize".into(),
                from: Some("1024".into()),
                to: Some("512".into())
            }]
        );
        assert!(updates[0].drift.is_empty());
        assert!(updates[0].publish && updates[0].move_alias);
    }

    #[test]
    fn a_property_the_answer_left_out_is_what_was_recorded() {
        let resources = setup(ONE);
        let (state, mut live) = deployed(&resources);
        live.props
            .get_mut("function/f")
            .unwrap()
            .as_mut()
            .unwrap()
            .insert("timeout".into(), crate::model::UNREPORTED.into());
        let p = plan(&resources, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.action, Action::Unchanged, "{f:?}");
        assert!(f.drift.is_empty());
        // A change in the manifest is still applied: the recorded value is the old one.
        let changed = setup(
            "service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, timeout: 9 }\n",
        );
        let p = plan(&changed, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.action, Action::Update);
        assert!(f.drift.is_empty());
        assert_eq!(f.fields[0].field, "timeout");
        assert_eq!(f.fields[0].from.as_deref(), Some("6"));
        assert_eq!(f.fields[0].to.as_deref(), Some("9"));
    }

    #[test]
    fn a_console_edit_is_drift_to_repair() {
        let resources = setup(ONE);
        let (state, mut live) = deployed(&resources);
        live.props
            .get_mut("function/f")
            .unwrap()
            .as_mut()
            .unwrap()
            .insert("timeout".into(), "30".into());
        let p = plan(&resources, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.action, Action::Update);
        assert_eq!(f.drift, ["timeout"]);
        assert_eq!(f.fields[0].to.as_deref(), Some("6"));
    }

    #[test]
    fn a_field_an_older_state_never_recorded_is_not_drift() {
        let resources = setup(ONE);
        let (mut state, live) = deployed(&resources);
        // A state written before sls-rs read `timeout` back.
        state
            .resources
            .get_mut("function/f")
            .unwrap()
            .props
            .remove("timeout");
        let p = plan(&resources, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.action, Action::Unchanged, "{f:?}");
        assert!(f.drift.is_empty(), "{f:?}");
    }

    /// A state written before sls-rs knew a versioned field (`layers`, `/tmp`'s size)
    /// is not a deploy that died before publishing: nothing is published, and a
    /// rollback's pin holds.
    #[test]
    fn a_versioned_field_an_older_state_never_recorded_neither_publishes_nor_unpins() {
        let resources = setup(TWO);
        let (mut state, live) = rolled_back(&resources);
        for rec in state.resources.values_mut() {
            rec.props.remove("ephemeralStorageSize");
            rec.props.remove("layers");
        }
        let p = plan(&resources, &state, &live);
        assert!(!p.has_changes(), "{p:?}");
        let f = change(&p, "function/f");
        assert!(
            !f.publish && !f.unpin && f.pinned.as_deref() == Some("1"),
            "{f:?}"
        );
    }

    #[test]
    fn a_resource_deleted_by_hand_is_created_again() {
        let resources = setup(ONE);
        let (state, mut live) = deployed(&resources);
        live.props.insert("logGroup/f".into(), None);
        let p = plan(&resources, &state, &live);
        assert_eq!(
            p.changes
                .iter()
                .find(|c| c.id == "logGroup/f")
                .unwrap()
                .action,
            Action::Create
        );
    }

    #[test]
    fn dropped_functions_are_deleted_function_first() {
        let two = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\n  g: { handler: g }\n");
        let (state, live) = deployed(&two);
        let p = plan(&setup(ONE), &state, &live);
        let deleted: Vec<&str> = p
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(deleted, ["function/g", "logGroup/g", "role/g"]);
    }

    #[test]
    fn an_untagged_bucket_is_adopted_only_when_it_is_unclaimed() {
        let resources =
            setup("service: shop\nprovider: { name: aws }\nresources:\n  buckets:\n    b: {}\n");
        let (_, mut live) = deployed(&resources);
        let bucket = live.props.get_mut("bucket/b").unwrap().as_mut().unwrap();
        bucket.retain(|k, _| !k.starts_with("tags."));
        // Untagged and holding data (no UNCLAIMED mark): someone else's.
        let p = plan(&resources, &State::default(), &live);
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        // Untagged and empty, in this account: a create that died before tagging it.
        let bucket = live.props.get_mut("bucket/b").unwrap().as_mut().unwrap();
        bucket.insert(crate::model::UNCLAIMED.into(), "true".into());
        let p = plan(&resources, &State::default(), &live);
        assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
        let b = p.changes.iter().find(|c| c.id == "bucket/b").unwrap();
        assert!(b.adopt, "{b:?}");
        assert_eq!(b.action, Action::Update, "its tags are written");
        assert!(
            b.fields.iter().all(|f| f.field.starts_with("tags.")),
            "{:?}",
            b.fields
        );
    }

    #[test]
    fn a_live_resource_that_is_not_ours_is_a_conflict_not_an_adoption() {
        let resources = setup(ONE);
        let (_, mut live) = deployed(&resources);
        let role = live.props.get_mut("role/f").unwrap().as_mut().unwrap();
        role.retain(|k, _| !k.starts_with("tags."));
        let p = plan(&resources, &State::default(), &live);
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert!(p.conflicts[0]
            .starts_with("IAM role shop-dev-f-us-east-1 exists and is not this service's"));
        // Ours (tagged) but unrecorded, as after a crash: adopted, no conflict.
        let (_, live) = deployed(&resources);
        assert!(plan(&resources, &State::default(), &live)
            .conflicts
            .is_empty());
    }

    #[test]
    fn a_role_of_the_same_stage_in_another_region_is_not_adopted() {
        let resources = setup(ONE);
        let (_, mut live) = deployed(&resources);
        let role = live.props.get_mut("role/f").unwrap().as_mut().unwrap();
        role.insert("tags.sls-rs:region".into(), "eu-west-1".into());
        let p = plan(&resources, &State::default(), &live);
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        // Untagged with a region (made by something else, or by hand): not ours either.
        let role = live.props.get_mut("role/f").unwrap().as_mut().unwrap();
        role.remove("tags.sls-rs:region");
        assert_eq!(
            plan(&resources, &State::default(), &live).conflicts.len(),
            1
        );
    }

    #[test]
    fn a_role_recorded_under_its_region_less_name_is_replaced() {
        let resources = setup(ONE);
        let (mut state, mut live) = deployed(&resources);
        // As deployed before role names carried the region.
        let old = state.resources.get_mut("role/f").unwrap();
        old.physical = "shop-dev-f".into();
        old.props.remove("tags.sls-rs:region");
        let old_arn = "arn:aws:iam::123456789012:role/shop-dev-f".to_string();
        let function = state.resources.get_mut("function/f").unwrap();
        function.props.insert("role".into(), old_arn.clone());
        let function = live.props.get_mut("function/f").unwrap().as_mut().unwrap();
        function.insert("role".into(), old_arn);
        assert_eq!(set_aside_replaced(&mut state, &resources), 1);
        live.props.insert("role/f".into(), None);
        let key = "role/f#replaced:shop-dev-f";
        live.props
            .insert(key.into(), Some(state.resources[key].props.clone()));
        let p = plan(&resources, &state, &live);
        assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
        let role = p.changes.iter().find(|c| c.id == "role/f").unwrap();
        assert_eq!(
            (role.action, role.physical.as_str()),
            (Action::Create, "shop-dev-f-us-east-1")
        );
        assert_eq!(role.replaces.as_deref(), Some("shop-dev-f"));
        let old = p.changes.iter().find(|c| c.id == key).unwrap();
        assert_eq!(old.action, Action::Delete);
        // The function moves to the new role: a configuration change and a new version.
        let function = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert!(function.publish);
        assert!(function.fields.iter().any(|f| f.field == "role"
            && f.to.as_deref() == Some("arn:aws:iam::123456789012:role/shop-dev-f-us-east-1")));
    }

    #[test]
    fn foreign_tags_are_not_drift() {
        let resources = setup(ONE);
        let (state, mut live) = deployed(&resources);
        live.props
            .get_mut("function/f")
            .unwrap()
            .as_mut()
            .unwrap()
            .insert("tags.owner".into(), "someone".into());
        assert!(!plan(&resources, &state, &live).has_changes());
    }

    #[test]
    fn a_deploy_killed_between_update_and_publish_publishes_next_time() {
        let (mut state, mut live) = deployed(&setup(ONE));
        let changed = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, memorySize: 512 }\n");
        // $LATEST got the new memory, the state still has the old: the version was never published.
        live.props
            .insert("function/f".into(), Some(changed[2].props()));
        let p = plan(&changed, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert!(f.publish && f.move_alias, "{f:?}");
        // Once recorded, it is quiet again.
        state.resources.get_mut("function/f").unwrap().props = changed[2].props();
        assert!(!plan(&changed, &state, &live).has_changes());
    }

    fn env_of(props: &Props) -> Props {
        props
            .iter()
            .filter(|(k, _)| k.starts_with("env."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    const WITH_TOKEN: &str = "service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, environment: { TOKEN: old } }\n";

    #[test]
    fn an_environment_change_is_compared_with_the_published_version_not_the_state() {
        let (state, mut live) = deployed(&setup(WITH_TOKEN));
        assert!(
            !state.resources["function/f"]
                .props
                .keys()
                .any(|k| k.starts_with("env.")),
            "the state keeps no environment fingerprint"
        );
        let changed = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, environment: { TOKEN: new } }\n");
        // Unchanged manifest: quiet.
        assert!(!plan(&setup(WITH_TOKEN), &state, &live).has_changes());
        // A new value: an update and a new version, and no drift.
        let p = plan(&changed, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.action, Action::Update);
        assert!(f.publish && f.drift.is_empty(), "{f:?}");
        // A deploy killed between updating $LATEST and publishing: $LATEST has the new value,
        // the published version the old one, so the next deploy publishes.
        live.props
            .insert("function/f".into(), Some(changed[2].props()));
        let p = plan(&changed, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert!(f.publish && f.move_alias && f.fields.is_empty(), "{f:?}");
        // Once published, quiet again.
        live.published_env
            .insert("function/f".into(), env_of(&changed[2].props()));
        assert!(!plan(&changed, &state, &live).has_changes());
        // Changed in the console: drift, repaired towards the manifest.
        live.props
            .insert("function/f".into(), Some(setup(WITH_TOKEN)[2].props()));
        let p = plan(&changed, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.drift, ["env.TOKEN"]);
        assert_eq!(f.action, Action::Update);
    }

    #[test]
    fn an_older_state_with_fingerprints_is_read_without_them() {
        let resources = setup(WITH_TOKEN);
        let (mut state, live) = deployed(&resources);
        state
            .resources
            .get_mut("function/f")
            .unwrap()
            .props
            .insert("env.TOKEN".into(), "sha256:0123456789abcdef".into());
        assert!(!plan(&resources, &state, &live).has_changes());
    }

    #[test]
    fn tags_and_reserved_concurrency_need_no_new_version() {
        let (state, live) = deployed(&setup(ONE));
        let tagged = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, tags: { cost: x }, reservedConcurrency: 3 }\n");
        let p = plan(&tagged, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.action, Action::Update);
        assert!(!f.publish && !f.move_alias, "{f:?}");
    }

    #[test]
    fn environment_values_are_not_in_the_plan() {
        let (state, live) = deployed(&setup(ONE));
        let env = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, environment: { TOKEN: abc } }\n");
        let p = plan(&env, &state, &live);
        let field = p
            .changes
            .iter()
            .flat_map(|c| &c.fields)
            .find(|f| f.field == "env.TOKEN")
            .unwrap();
        assert_eq!((field.from.as_deref(), field.to.as_deref()), (None, None));
    }

    #[test]
    fn provisioned_concurrency_follows_the_manifest() {
        let (state, live) = deployed(&setup(ONE));
        let pc = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, provisionedConcurrency: 2 }\n");
        let p = plan(&pc, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.provisioned, Some(Some(2)));
        assert!(
            !f.publish,
            "provisioned concurrency alone needs no new version"
        );
    }

    #[test]
    fn auto_scaled_provisioned_concurrency_is_left_to_the_scaler_between_its_bounds() {
        let scaled = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, provisionedConcurrency: { min: 2, max: 10 } }\n");
        let (mut state, mut live) = deployed(&scaled);
        state.resources.get_mut("function/f").unwrap().provisioned = Some(2);
        let f_of = |p: &Plan| {
            p.changes
                .iter()
                .find(|c| c.id == "function/f")
                .cloned()
                .unwrap()
        };
        // The scaler moved it, anywhere between the bounds: no change, no drift.
        for n in [2, 7, 10] {
            live.provisioned.insert("function/f".into(), Some(n));
            let p = plan(&scaled, &state, &live);
            assert!(!p.has_changes(), "{n}: {:?}", f_of(&p));
        }
        // Outside them (a console edit): drift, set to the nearest bound.
        live.provisioned.insert("function/f".into(), Some(40));
        let f = f_of(&plan(&scaled, &state, &live));
        assert_eq!(
            (f.provisioned, f.drift),
            (Some(Some(10)), vec!["provisionedConcurrency".to_string()])
        );
        live.provisioned.insert("function/f".into(), Some(1));
        assert_eq!(
            f_of(&plan(&scaled, &state, &live)).provisioned,
            Some(Some(2))
        );
        // Gone (removed, or FAILED): the minimum again.
        live.provisioned.insert("function/f".into(), None);
        assert_eq!(
            f_of(&plan(&scaled, &state, &live)).provisioned,
            Some(Some(2))
        );
        // The scaler's target is a resource of its own, read back like any other.
        let p = plan(&scaled, &state, &live);
        assert!(
            p_change(&p, "provisionedScaling/f").is_none(),
            "deployed as declared"
        );
        live.props
            .get_mut("provisionedScaling/f")
            .unwrap()
            .as_mut()
            .unwrap()
            .insert("maxCapacity".into(), "50".into());
        let p = plan(&scaled, &state, &live);
        assert_eq!(
            p_change(&p, "provisionedScaling/f").unwrap().drift,
            ["maxCapacity"]
        );

        // A fixed number again: whatever the scaler left is set to it, and the target goes.
        live.provisioned.insert("function/f".into(), Some(7));
        let fixed = |n: u32| {
            setup(&format!("service: shop\nprovider: {{ name: aws }}\nfunctions:\n  f: {{ handler: f, provisionedConcurrency: {n} }}\n"))
        };
        let p = plan(&fixed(3), &state, &live);
        assert_eq!(f_of(&p).provisioned, Some(Some(3)));
        assert!(
            f_of(&p).drift.is_empty(),
            "the scaler's number is not drift"
        );
        assert_eq!(
            p_change(&p, "provisionedScaling/f").map(|c| c.action),
            Some(Action::Delete)
        );
        // ... or the number the scaler left, which needs no change and is no drift.
        let p = plan(&fixed(7), &state, &live);
        assert_eq!(f_of(&p).provisioned, None);
        assert!(f_of(&p).drift.is_empty());
        // None at all: removed.
        let none =
            setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\n");
        assert_eq!(f_of(&plan(&none, &state, &live)).provisioned, Some(None));
    }

    fn p_change<'a>(p: &'a Plan, id: &str) -> Option<&'a Change> {
        p.changes
            .iter()
            .find(|c| c.id == id && c.action != Action::Unchanged)
    }

    #[test]
    fn provisioned_concurrency_is_compared_with_what_aws_has_not_the_record() {
        let pc = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, provisionedConcurrency: 2 }\n");
        let (mut state, mut live) = deployed(&pc);
        state.resources.get_mut("function/f").unwrap().provisioned = Some(2);
        live.provisioned.insert("function/f".into(), Some(2));
        assert!(!plan(&pc, &state, &live).has_changes());

        // Changed in the console: drift, set back.
        live.provisioned.insert("function/f".into(), Some(5));
        let p = plan(&pc, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.provisioned, Some(Some(2)));
        assert_eq!(f.drift, ["provisionedConcurrency"]);

        // Removed in the console (or FAILED, which provides none): set again.
        live.provisioned.insert("function/f".into(), None);
        let p = plan(&pc, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.provisioned, Some(Some(2)));

        // Dropped from the manifest: removed, whatever AWS has.
        let (_, _) = deployed(&pc);
        let without = setup(ONE);
        live.provisioned.insert("function/f".into(), Some(2));
        let p = plan(&without, &state, &live);
        let f = p.changes.iter().find(|c| c.id == "function/f").unwrap();
        assert_eq!(f.provisioned, Some(None));

        // Not readable (an emulator without the API): the record is trusted.
        live.provisioned.clear();
        assert!(!plan(&pc, &state, &live).has_changes());
    }

    #[test]
    fn a_key_schema_change_is_a_conflict_and_nothing_else_runs() {
        let before = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S } }\n");
        let (state, live) = deployed(&before);
        let after = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t: { partitionKey: { name: pk, type: S }, pointInTimeRecovery: true }\n");
        let p = plan(&after, &state, &live);
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert!(p.conflicts[0].contains("`partitionKey` cannot change in place (id:S → pk:S)"));
        assert!(p.render().starts_with("cannot deploy"));
    }

    #[test]
    fn something_of_ours_missing_from_the_state_is_adopted_even_unchanged() {
        let resources = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S } }\n");
        let (mut state, live) = deployed(&resources);
        state.resources.remove("table/t");
        let p = plan(&resources, &state, &live);
        let t = p.changes.iter().find(|c| c.id == "table/t").unwrap();
        assert_eq!((t.action, t.adopt), (Action::Unchanged, true));
        assert!(p.has_changes());
        assert!(p.render().contains("adopted"));
    }

    #[test]
    fn dropped_resources_are_deleted_triggers_first_data_last() {
        let resources = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f:\n    handler: f\n    events: [{ sqs: q }]\nresources:\n  queues:\n    q: {}\n");
        let (state, live) = deployed(&resources);
        let p = plan(&[], &state, &live);
        let order: Vec<&str> = p.changes.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            order,
            [
                "eventSourceMapping/f.sqs.q",
                "function/f",
                "logGroup/f",
                "role/f",
                "queue/q"
            ]
        );
    }

    #[test]
    fn a_deletion_policy_change_is_recorded_though_aws_has_nothing_to_do() {
        let keep = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S } }\n");
        let (state, live) = deployed(&keep);
        let delete = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n");
        let p = plan(&delete, &state, &live);
        let t = p.changes.iter().find(|c| c.id == "table/t").unwrap();
        assert_eq!(
            (t.action, t.deletion_policy),
            (Action::Unchanged, Some("delete"))
        );
        assert!(p.has_changes());
        assert!(p.render().contains("deletionPolicy delete"));
    }

    #[test]
    fn a_stream_mapping_moves_when_its_table_gets_a_new_stream() {
        let yaml = |view: &str| {
            format!("service: shop\nprovider: {{ name: aws }}\nfunctions:\n  f:\n    handler: f\n    events: [{{ stream: {{ table: t }} }}]\nresources:\n  tables:\n    t: {{ partitionKey: {{ name: id, type: S }}, stream: {view} }}\n")
        };
        let before = setup(&yaml("NEW_IMAGE"));
        let (state, live) = deployed(&before);
        let p = plan(&setup(&yaml("NEW_AND_OLD_IMAGES")), &state, &live);
        let m = p
            .changes
            .iter()
            .find(|c| c.id == "eventSourceMapping/f.stream.t")
            .unwrap();
        assert_eq!(m.action, Action::Update);
        assert!(m.fields.iter().any(|f| f.field == "source"));
    }

    #[test]
    fn a_physical_name_change_is_a_replacement_the_old_one_going_like_a_dropped_one() {
        let yaml = |fifo: bool| {
            format!("service: shop\nprovider: {{ name: aws }}\nfunctions:\n  f:\n    handler: f\n    events: [{{ sqs: q }}]\nresources:\n  queues:\n    q: {{ fifo: {fifo}, deadLetter: {{ maxReceiveCount: 2 }} }}\n")
        };
        let (mut state, mut live) = deployed(&setup(&yaml(false)));
        let after = setup(&yaml(true));
        // The queue, its dead-letter queue and its trigger change names; nothing else does.
        assert_eq!(set_aside_replaced(&mut state, &after), 3);
        assert!(state.resources.contains_key("queue/q#replaced:shop-dev-q"));
        assert!(state
            .resources
            .contains_key("queue/q-dlq#replaced:shop-dev-q-dlq"));
        for r in &after {
            if !state.resources.contains_key(&r.id) {
                live.props.insert(r.id.clone(), None);
            }
        }
        for (key, rec) in &state.resources {
            live.props.insert(key.clone(), Some(rec.props.clone()));
        }
        let p = plan(&after, &state, &live);
        let q = p.changes.iter().find(|c| c.id == "queue/q").unwrap();
        assert_eq!(q.action, Action::Create);
        assert_eq!(q.replaces.as_deref(), Some("shop-dev-q"));
        let old = p
            .changes
            .iter()
            .find(|c| c.id == "queue/q#replaced:shop-dev-q")
            .unwrap();
        assert_eq!(old.action, Action::Delete);
        assert_eq!(old.replaced_by.as_deref(), Some("shop-dev-q.fifo"));
        // Old halves go in deletion order: the old trigger first, the old queues last.
        let deleted: Vec<&str> = p
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.physical.as_str())
            .collect();
        assert_eq!(deleted.len(), 3);
        assert!(deleted[0].starts_with("shop-dev-q → "), "{deleted:?}");
        let text = p.render();
        let row = text
            .lines()
            .find(|l| l.contains(" shop-dev-q.fifo "))
            .unwrap();
        assert!(row.starts_with("-/+ "), "{text}");
        assert!(
            row.contains("replaces shop-dev-q (the name changes)"),
            "{text}"
        );
        assert!(text.contains("3 to replace, 0 to delete"), "{text}");
        assert_eq!(p.count(Action::Delete), 3);
        // Nothing renamed: nothing set aside.
        let (mut fresh, _) = deployed(&after);
        assert_eq!(set_aside_replaced(&mut fresh, &after), 0);
        // A rename given up before the deploy ran: the old records come back, nothing is deleted.
        let before = setup(&yaml(false));
        assert_eq!(set_aside_replaced(&mut state, &before), 0);
        assert_eq!(state.resources["queue/q"].physical, "shop-dev-q");
        assert!(state.resources.keys().all(|k| replaced_of(k).is_none()));
        assert_eq!(
            plan(&before, &state, &deployed(&before).1).count(Action::Delete),
            0
        );
    }

    #[test]
    fn a_new_stream_view_or_a_rebuilt_index_is_disruptive_and_said_in_words() {
        let yaml = |stream: &str, index: &str, billing: &str| {
            format!("service: shop\nprovider: {{ name: aws }}\nfunctions:\n  f: {{ handler: f }}\nresources:\n  tables:\n    t:\n      partitionKey: {{ name: id, type: S }}\n      {stream}\n      {billing}\n      globalSecondaryIndexes:\n        - {{ name: byOwner, partitionKey: {{ name: {index}, type: S }} }}\n")
        };
        let (state, live) = deployed(&setup(&yaml("stream: NEW_IMAGE", "owner", "")));
        let changed = setup(&yaml("stream: NEW_AND_OLD_IMAGES", "team", ""));
        let p = plan(&changed, &state, &live);
        let d = p.disruptions();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("DynamoDB table shop-dev-t: index byOwner changes (owner:S - ALL → team:S - ALL): it is deleted and built again"), "{d:?}");
        assert!(
            d[1].contains("the stream's view type changes (NEW_IMAGE → NEW_AND_OLD_IMAGES)"),
            "{d:?}"
        );
        assert!(d[1].contains("lost"), "{d:?}");
        let text = p.render();
        assert!(text.contains("DISRUPTIVE: index byOwner changes"), "{text}");
        assert!(text.contains("`--allow-disruption`"), "{text}");
        // Settings DynamoDB changes without loss are not: a stream turned on or off, billing.
        let calm = setup(&yaml(
            "",
            "owner",
            "billingMode: PROVISIONED\n      capacity: { read: 1, write: 1 }",
        ));
        let p = plan(&calm, &state, &live);
        assert!(p.has_changes());
        assert!(p.disruptions().is_empty(), "{:?}", p.disruptions());
    }

    const TWO: &str = "service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\n  g: { handler: g }\n";

    /// Deployed twice (version 2 newest), then rolled back: `live` at 1, pinned.
    fn rolled_back(resources: &[Resource]) -> (State, Live) {
        let (mut state, live) = deployed(resources);
        for rec in state.resources.values_mut() {
            if rec.kind == Kind::Function {
                rec.version = Some("2".into());
                rec.pinned = true;
            }
        }
        (state, live)
    }

    fn change<'a>(p: &'a Plan, id: &str) -> &'a Change {
        p.changes.iter().find(|c| c.id == id).unwrap()
    }

    #[test]
    fn a_rollback_pin_holds_until_the_function_changes_or_is_unpinned() {
        let resources = setup(TWO);
        let (state, live) = rolled_back(&resources);
        let p = plan(&resources, &state, &live);
        assert!(!p.has_changes(), "{p:?}");
        assert_eq!(change(&p, "function/g").pinned.as_deref(), Some("1"));
        assert!(p.render().contains("pinned by rollback"), "{}", p.render());
        assert!(p.render().contains("f at version 1, g at version 1"));

        // f changes: its pin goes and it moves; g stays.
        let changed = setup("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f, memorySize: 512 }\n  g: { handler: g }\n");
        let p = plan(&changed, &state, &live);
        let f = change(&p, "function/f");
        assert!(
            f.unpin && f.publish && f.move_alias && f.pinned.is_none(),
            "{f:?}"
        );
        let g = change(&p, "function/g");
        assert!(!g.move_alias && !g.unpin && g.pinned.is_some(), "{g:?}");
        assert!(p.render().contains("g at version 1"));

        // --unpin g moves g to its newest version; --unpin moves both.
        let p = plan_with(&resources, &state, &live, &Unpin::Only(vec!["g".into()]));
        let g = change(&p, "function/g");
        assert!(g.unpin && g.move_alias && !g.publish, "{g:?}");
        assert!(change(&p, "function/f").pinned.is_some());
        let p = plan_with(&resources, &state, &live, &Unpin::All);
        assert!(p
            .changes
            .iter()
            .filter(|c| c.kind == Kind::Function)
            .all(|c| c.unpin && c.move_alias));
        assert!(p.render().contains("rollback pin released"));

        // Without a pin, the same state moves both forward (what rollback used to be undone by).
        let mut unpinned = state.clone();
        unpinned
            .resources
            .values_mut()
            .for_each(|r| r.pinned = false);
        let p = plan(&resources, &unpinned, &live);
        assert!(p
            .changes
            .iter()
            .filter(|c| c.kind == Kind::Function)
            .all(|c| c.move_alias));
    }

    #[test]
    fn the_state_learns_where_aws_says_live_points() {
        let resources = setup(ONE);
        let (mut state, mut live) = deployed(&resources);
        // A run killed after UpdateAlias(2), before saving: the state says 1.
        state.resources.get_mut("function/f").unwrap().version = Some("2".into());
        live.alias.insert("function/f".into(), Some("2".into()));
        // With no run that died, that is a console edit: the plan reports it as drift.
        assert!(relearn_aliases(&mut state.clone(), &live).is_empty());
        assert!(plan(&resources, &state, &live)
            .changes
            .iter()
            .any(|c| c.kind == Kind::Function && c.drift.contains(&"alias live".to_string())));
        state
            .deployments
            .push(crate::engine::state::DeploymentRecord::sample(
                "d",
                "in progress",
                &[],
            ));
        let learned = relearn_aliases(&mut state, &live);
        assert_eq!(learned.len(), 1);
        assert!(
            learned[0].contains("points at version 2, the state said 1"),
            "{learned:?}"
        );
        assert_eq!(state.resources["function/f"].live.as_deref(), Some("2"));
        assert!(!plan(&resources, &state, &live).has_changes());
        assert!(relearn_aliases(&mut state, &live).is_empty());
    }
}
