//! The plan: desired resources against the state and the live configuration.
//! A plain value, computed without any AWS call, unit-tested as such.

use std::collections::BTreeMap;

use serde::Serialize;

use super::state::State;
use crate::model::{same_owner, Kind, LogicalId, Props, Resource, Spec};

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
    /// Data resources: the manifest's deletionPolicy changed (`delete` or `retain`); only the state changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
}

impl Change {
    pub fn is_noop(&self) -> bool {
        self.action == Action::Unchanged
            && !self.publish
            && !self.move_alias
            && self.provisioned.is_none()
            && !self.adopt
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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Resources that exist under a name the service needs but are not the service's:
    /// deploy stops before touching anything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
}

impl Plan {
    /// The plan as a table: `+` create, `~` update (with the fields), `-` delete, drift marked.
    pub fn render(&self) -> String {
        if !self.conflicts.is_empty() {
            return format!("cannot deploy:\n  {}", self.conflicts.join("\n  "));
        }
        let changes: Vec<&Change> = self.changes.iter().filter(|c| !c.is_noop()).collect();
        if changes.is_empty() {
            return "no changes: everything is as the manifest says".into();
        }
        let mut rows = Vec::new();
        for c in &changes {
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
            if c.publish && c.kind == Kind::Function {
                detail.push("new version".into());
            }
            if c.move_alias && !c.publish {
                detail.push("live alias moves to the latest version".into());
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
                c.action.symbol().to_string(),
                c.kind.noun().to_string(),
                c.physical.clone(),
                detail.join("; "),
            ]);
        }
        let summary = format!(
            "plan: {} to create, {} to update, {} to delete{}",
            self.count(Action::Create),
            changes
                .iter()
                .filter(|c| c.action == Action::Update || (c.action == Action::Unchanged))
                .count(),
            self.count(Action::Delete),
            if self.drifted() > 0 {
                format!(", {} drifted", self.drifted())
            } else {
                String::new()
            }
        );
        format!("{}{summary}", crate::ui::table(&rows))
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| !c.is_noop())
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    pub fn drifted(&self) -> usize {
        self.changes.iter().filter(|c| !c.drift.is_empty()).count()
    }
}

/// Tags are compared only where they are ours: AWS and other tools add their own.
fn comparable(props: &Props, desired: &Props, recorded: Option<&Props>) -> Props {
    props
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("tags.")
                || desired.contains_key(*k)
                || recorded.is_some_and(|r| r.contains_key(*k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
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

/// The properties a published version captures; the rest (tags, reserved
/// concurrency) applies to the function whatever the version.
pub fn is_versioned(field: &str) -> bool {
    field.starts_with("env.")
        || [
            "code",
            "architecture",
            "memorySize",
            "timeout",
            "role",
            "tracing",
            "description",
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

/// What sls-rs last wrote: the state's properties, with the environment of the
/// published version in place of any fingerprint an older state kept.
fn recorded_props(rec: &super::state::Recorded, published_env: Option<&Props>) -> Props {
    let mut props = crate::model::recordable(rec.props.clone());
    props.extend(published_env.cloned().unwrap_or_default());
    props
}

pub fn plan(desired: &[Resource], state: &State, live: &Live) -> Plan {
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
            if r.kind.tagged() && !ours {
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
                let drift = match &recorded_props {
                    Some(rec) => diff(rec, &have).into_iter().map(|f| f.field).collect(),
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
            deletion_policy: recorded
                .filter(|rec| rec.delete_with_data != r.delete_with_data)
                .map(|_| {
                    if r.delete_with_data {
                        "delete"
                    } else {
                        "retain"
                    }
                }),
        };
        if let Spec::Function(f) = &r.spec {
            let version = recorded.and_then(|rec| rec.version.clone());
            // The state records a function only once its version is published: recorded
            // versioned properties that differ from the manifest mean a deploy died between
            // updating $LATEST and publishing, even when $LATEST already matches.
            let unpublished = recorded_props
                .as_ref()
                .is_some_and(|rec| versioned(rec) != versioned(&want));
            change.publish = action == Action::Create
                || change.fields.iter().any(|f| is_versioned(&f.field))
                || unpublished
                || version.is_none();
            let alias = live.alias.get(&r.id).cloned().flatten();
            let alias_drifted = recorded.is_some_and(|rec| rec.live.is_some() && alias != rec.live);
            if alias_drifted {
                change.drift.push("alias live".into());
            }
            change.move_alias = change.publish || alias.is_none() || alias != version;
            let recorded_pc = recorded.and_then(|rec| rec.provisioned);
            // A function or alias recreated after a manual deletion lost its provisioned concurrency too.
            let recreated = action == Action::Create || alias.is_none();
            if f.provisioned_concurrency != recorded_pc
                || (recreated && f.provisioned_concurrency.is_some())
            {
                change.provisioned = Some(f.provisioned_concurrency);
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
            deletion_policy: None,
        });
    }
    Plan { changes, conflicts }
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
                    delete_with_data: false,
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
    fn a_live_resource_that_is_not_ours_is_a_conflict_not_an_adoption() {
        let resources = setup(ONE);
        let (_, mut live) = deployed(&resources);
        let role = live.props.get_mut("role/f").unwrap().as_mut().unwrap();
        role.retain(|k, _| !k.starts_with("tags."));
        let p = plan(&resources, &State::default(), &live);
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert!(p.conflicts[0].starts_with("IAM role shop-dev-f exists and is not this service's"));
        // Ours (tagged) but unrecorded, as after a crash: adopted, no conflict.
        let (_, live) = deployed(&resources);
        assert!(plan(&resources, &State::default(), &live)
            .conflicts
            .is_empty());
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
}
