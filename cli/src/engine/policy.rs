//! Role policies while a deploy (or a rollback) changes them. The versions live
//! before cutover keep running under the same roles as the new ones, so until the
//! aliases move a role holds the union of the policy its live versions need and
//! the new one; after cutover it is narrowed to the new one. Each deployment's
//! policies are kept (documents once, by hash) so `rollback` restores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan::{Action, Plan};
use super::state::State;
use super::Progress;
use crate::cloud::{iam_role, lambda_function, Aws};
use crate::model::{Kind, Resource, Spec};

/// IAM's limit on a role's inline policies, in characters (whitespace excluded).
const INLINE_POLICY_MAX: usize = 10_240;

/// The role policies of each deployment, as the state keeps them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyHistory {
    /// Policy documents by hash.
    #[serde(default)]
    documents: BTreeMap<String, Value>,
    /// Deployment id → role name → the hash of the policy its versions run with.
    #[serde(default)]
    deployments: BTreeMap<String, BTreeMap<String, String>>,
}

/// Role name → policy document.
pub type Policies = BTreeMap<String, Value>;

pub fn hash(policy: &Value) -> String {
    crate::build::sha256_hex(policy.to_string().as_bytes())[..16].to_string()
}

impl PolicyHistory {
    pub fn is_empty(&self) -> bool {
        self.deployments.is_empty()
    }

    /// Records the policies a deployment's versions run with.
    pub fn set(&mut self, deployment: &str, policies: &Policies) {
        let mut hashes = BTreeMap::new();
        for (role, doc) in policies {
            let h = hash(doc);
            self.documents
                .entry(h.clone())
                .or_insert_with(|| doc.clone());
            hashes.insert(role.clone(), h);
        }
        self.deployments.insert(deployment.to_string(), hashes);
    }

    /// The policies a deployment's versions ran with; `None` for one recorded
    /// before sls-rs kept them.
    pub fn of(&self, deployment: &str) -> Option<Policies> {
        let hashes = self.deployments.get(deployment)?;
        Some(
            hashes
                .iter()
                .filter_map(|(role, h)| Some((role.clone(), self.documents.get(h)?.clone())))
                .collect(),
        )
    }

    /// Forgets deployments the state no longer lists, and documents none of them uses.
    pub fn prune(&mut self, kept: &[String]) {
        self.deployments.retain(|id, _| kept.contains(id));
        let used: Vec<&String> = self.deployments.values().flat_map(|h| h.values()).collect();
        self.documents.retain(|h, _| used.contains(&h));
    }
}

/// The policies the live versions run with: the latest deployment's, else (a
/// state from before they were kept) the recorded ones.
pub fn in_force(state: &State) -> Policies {
    let mut out: Policies = state
        .resources
        .values()
        .filter(|r| r.kind == Kind::Role)
        .filter_map(|r| {
            let doc = serde_json::from_str(r.props.get("policy")?).ok()?;
            Some((r.physical.clone(), doc))
        })
        .collect();
    if let Some(latest) = state
        .deployments
        .iter()
        .rev()
        .find_map(|d| state.policies.of(&d.id))
    {
        out.extend(latest);
    }
    out
}

/// The roles' policies as the manifest wants them.
pub fn desired(resources: &[Resource]) -> Policies {
    resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::Role(role) => Some((r.physical.clone(), role.policy.clone())),
            _ => None,
        })
        .collect()
}

/// After cutover: the roles widened for the old versions get exactly their new policy.
pub async fn narrow(
    aws: &Aws,
    plan: &Plan,
    desired: &[Resource],
    in_force: &Policies,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    let wanted = self::desired(desired);
    let widened = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Role && c.action == Action::Update)
        .filter(|c| c.fields.iter().any(|f| f.field == "policy"))
        .filter_map(|c| {
            let new = wanted.get(&c.physical)?;
            let (written, _) = while_old_versions_serve(in_force.get(&c.physical), new);
            (&written != new).then_some((c.physical.as_str(), new))
        });
    let writes = widened.map(|(role, new)| async move {
        iam_role::put_policy(aws, role, new).await?;
        progress(&format!("  ~ narrowed IAM role {role} to its new policy"));
        anyhow::Ok(())
    });
    futures::future::try_join_all(writes).await?;
    Ok(())
}

/// After the shifts of a `--no-wait` deployment ended: each role whose policy it changed
/// (from the deployment before it) gets exactly its new one; it held both until now.
/// The roles' records already hold the new policy.
pub async fn narrow_recorded(
    aws: &Aws,
    state: &State,
    deployment: &str,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    let Some(new) = state.policies.of(deployment) else {
        return Ok(());
    };
    let before = state
        .deployments
        .iter()
        .take_while(|d| d.id != deployment)
        .last()
        .and_then(|d| state.policies.of(&d.id))
        .unwrap_or_default();
    let writes = new
        .iter()
        .filter(|(role, doc)| before.get(*role).is_some_and(|old| old != *doc))
        .map(|(role, doc)| async move {
            iam_role::put_policy(aws, role, doc).await?;
            progress(&format!("  ~ narrowed IAM role {role} to its new policy"));
            anyhow::Ok(())
        });
    futures::future::try_join_all(writes).await?;
    Ok(())
}

/// What a rollback to `target` changes: (function role, its policy now, the
/// target's). Refused when a function runs under another role than the target's
/// versions did (roles got region-unique names since: the old one is gone).
pub fn to_restore(state: &State, target: &str) -> Result<Vec<(String, Value, Value)>, Vec<String>> {
    let Some(then) = state.policies.of(target) else {
        // Recorded before sls-rs kept policies: the aliases move, the policies stay.
        return Ok(vec![]);
    };
    let now = in_force(state);
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let roles = state
        .resources
        .values()
        .filter(|r| r.kind == Kind::Role && !r.function.is_empty() && !r.physical.is_empty());
    for r in roles {
        match (now.get(&r.physical), then.get(&r.physical)) {
            (Some(a), Some(b)) if a != b => out.push((r.physical.clone(), a.clone(), b.clone())),
            (_, Some(_)) => {}
            (_, None) if !then.is_empty() => problems.push(format!(
                "function `{}` runs under IAM role {} now, and the versions of deployment {target} ran under a role that no longer exists",
                r.function, r.physical
            )),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The versions a rollback would make live whose role no longer exists (a role
/// of the older region-less name, replaced and deleted since): they could not run.
pub async fn roles_gone(
    aws: &Aws,
    moves: &[(String, String, String)],
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for (function, physical, version) in moves {
        let Some(arn) = lambda_function::version_role(aws, physical, version).await? else {
            continue;
        };
        let role = arn.rsplit('/').next().unwrap_or(&arn);
        if iam_role::read(aws, role).await?.is_none() {
            problems.push(format!(
                "version {version} of function `{function}` runs under IAM role {role}, which no longer exists (roles got region-unique names since)"
            ));
        }
    }
    Ok(problems)
}

/// Before a rollback moves the aliases: each role holds what both versions use.
pub async fn widen_for_rollback(
    aws: &Aws,
    restore: &[(String, Value, Value)],
) -> anyhow::Result<()> {
    let writes = restore.iter().map(|(role, now, then)| async move {
        let (both, _) = while_old_versions_serve(Some(now), then);
        iam_role::put_policy(aws, role, &both).await
    });
    futures::future::try_join_all(writes).await?;
    Ok(())
}

/// After a rollback moved the aliases: each role gets the target's policy, and the
/// state records it (as the rollback's own policies, and as the roles' properties).
pub async fn finish_rollback(
    aws: &Aws,
    journal: &super::state::Journal,
    restore: &[(String, Value, Value)],
) -> anyhow::Result<()> {
    let writes = restore
        .iter()
        .map(|(role, _, then)| iam_role::put_policy(aws, role, then));
    futures::future::try_join_all(writes).await?;
    journal.update(|s| {
        let mut policies = in_force(s);
        for (role, _, then) in restore {
            policies.insert(role.clone(), then.clone());
            if let Some(r) = s
                .resources
                .values_mut()
                .find(|r| r.kind == Kind::Role && &r.physical == role)
            {
                r.props.insert("policy".into(), then.to_string());
            }
        }
        if let Some(id) = s.deployments.last().map(|d| d.id.clone()) {
            s.policies.set(&id, &policies);
        }
    });
    journal.save(aws).await
}

/// Every statement of `new`, then those of `old` that `new` lacks (without their
/// `Sid`, which must be unique within a policy).
pub fn union(old: &Value, new: &Value) -> Value {
    let statements = |p: &Value| -> Vec<Value> {
        match &p["Statement"] {
            Value::Array(s) => s.clone(),
            Value::Null => vec![],
            one => vec![one.clone()],
        }
    };
    let mut all = statements(new);
    let strip = |s: &Value| {
        let mut s = s.clone();
        if let Value::Object(map) = &mut s {
            map.remove("Sid");
        }
        s
    };
    let known: Vec<Value> = all.iter().map(strip).collect();
    for s in statements(old) {
        let bare = strip(&s);
        if !known.contains(&bare) && !all.contains(&bare) {
            all.push(bare);
        }
    }
    let mut out = new.clone();
    out["Statement"] = Value::Array(all);
    out
}

/// What to write while the old versions still serve: the union of what they need
/// and the new policy, unless nothing changes or the union would exceed IAM's
/// size limit (then the new policy, and a warning).
pub fn while_old_versions_serve(old: Option<&Value>, new: &Value) -> (Value, Option<String>) {
    let Some(old) = old.filter(|o| *o != new) else {
        return (new.clone(), None);
    };
    let widened = union(old, new);
    if widened.to_string().len() > INLINE_POLICY_MAX {
        return (
            new.clone(),
            Some(format!(
                "the old and new policies together exceed IAM's {INLINE_POLICY_MAX} characters: the new one is written at once, so the versions live until cutover may be denied what they used"
            )),
        );
    }
    (widened, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(statements: Value) -> Value {
        json!({ "Version": "2012-10-17", "Statement": statements })
    }

    #[test]
    fn the_union_keeps_every_new_statement_and_adds_the_old_ones_it_lacks() {
        let logs = json!({ "Sid": "Logs", "Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "g" });
        let read = json!({ "Sid": "Table", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "t" });
        let write = json!({ "Sid": "Table", "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": "t" });
        let old = policy(json!([logs, read]));
        let new = policy(json!([logs, write]));
        let u = union(&old, &new);
        let got = u["Statement"].as_array().unwrap();
        assert_eq!(got.len(), 3, "{u}");
        assert_eq!(got[..2], [logs.clone(), write.clone()]);
        // The old table statement, without its Sid (it would clash with the new one's).
        assert_eq!(got[2]["Action"], json!(["dynamodb:GetItem"]));
        assert!(got[2].get("Sid").is_none());
        assert_eq!(u["Version"], "2012-10-17");
        // Nothing old is missing: the union is the new policy.
        assert_eq!(union(&new, &new), new);
        assert_eq!(
            union(&policy(json!([logs])), &new)["Statement"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn while_old_versions_serve_the_union_is_written_unless_too_big() {
        let a = policy(json!([{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "a" }]));
        let b = policy(json!([{ "Effect": "Allow", "Action": "s3:PutObject", "Resource": "b" }]));
        assert_eq!(while_old_versions_serve(None, &b), (b.clone(), None));
        assert_eq!(while_old_versions_serve(Some(&b), &b), (b.clone(), None));
        let (widened, warning) = while_old_versions_serve(Some(&a), &b);
        assert_eq!(widened["Statement"].as_array().unwrap().len(), 2);
        assert!(warning.is_none());
        let huge = policy(
            json!([{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "x".repeat(11_000) }]),
        );
        let (written, warning) = while_old_versions_serve(Some(&huge), &b);
        assert_eq!(written, b);
        assert!(warning.unwrap().contains("exceed"));
    }

    #[test]
    fn each_deployments_policies_are_kept_once_per_document_and_pruned() {
        let a = json!({ "Statement": [1] });
        let b = json!({ "Statement": [2] });
        let mut h = PolicyHistory::default();
        h.set("d1", &[("r".to_string(), a.clone())].into());
        h.set(
            "d2",
            &[("r".to_string(), b.clone()), ("s".to_string(), a.clone())].into(),
        );
        assert_eq!(h.documents.len(), 2, "a is stored once");
        assert_eq!(h.of("d1").unwrap()["r"], a);
        assert_eq!(h.of("d2").unwrap()["s"], a);
        assert!(h.of("d0").is_none());
        h.prune(&["d1".to_string()]);
        assert!(h.of("d2").is_none());
        assert_eq!(h.documents.len(), 1);
    }
}
