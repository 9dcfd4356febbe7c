//! A function's IAM role and its one inline policy.

use std::collections::BTreeMap;

use anyhow::bail;
use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::{aws_error, Aws};
use crate::model::{same_owner, RoleSpec, INLINE_POLICY_NAME};

/// A role as it is in IAM.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleLive {
    pub arn: String,
    pub trust: Value,
    pub policy: Option<Value>,
    pub tags: BTreeMap<String, String>,
}

impl RoleLive {
    /// From IAM's answer: the trust document as IAM encodes it, the inline policy decoded.
    fn new(
        arn: String,
        trust: Option<&str>,
        policy: Option<Value>,
        tags: Option<Vec<Tag>>,
    ) -> Self {
        RoleLive {
            arn,
            trust: trust.map(decode_policy).unwrap_or(Value::Null),
            policy,
            tags: tags_of(tags),
        }
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); plain JSON passes through.
pub fn decode_policy(text: &str) -> Value {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    serde_json::from_slice(&out)
        .or_else(|_| serde_json::from_str(text))
        .unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A role without its inline policy (one request); `None` when it does not exist.
async fn get(aws: &Aws, name: &str) -> anyhow::Result<Option<aws_sdk_iam::types::Role>> {
    match aws.iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            &format!("reading IAM role ({name})"),
            "iam:GetRole",
            e,
        )),
    }
}

/// A role's tags alone; `None` when the role does not exist.
pub async fn read_tags(aws: &Aws, name: &str) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    Ok(get(aws, name).await?.map(|role| tags_of(role.tags)))
}

fn tags_of(tags: Option<Vec<Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

/// From how many roles [`read_many`] reads the account's in one paginated listing
/// rather than each by itself (two requests a role, at IAM's ~10 a second). The
/// listing's length is the account's, not the service's: a page holds up to 1,000
/// roles, so an account of a few thousand costs a few large pages, still fewer
/// requests than a dozen roles read one by one.
pub const LIST_FROM: usize = 6;

/// The roles named (each with its inline policy and tags; absent: no such role),
/// through GetAccountAuthorizationDetails, a page of up to 1,000 roles a request.
/// `None` when the credentials may not call it (a deployer policy without
/// `iam:GetAccountAuthorizationDetails`) or an emulator lacks it: the caller reads
/// each role instead.
pub async fn read_many(
    aws: &Aws,
    names: &std::collections::BTreeSet<String>,
) -> anyhow::Result<Option<BTreeMap<String, RoleLive>>> {
    let mut out = BTreeMap::new();
    let mut pages = aws
        .iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .max_items(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e)
                if super::has_code(&e, &["AccessDenied", "AccessDeniedException"])
                    || super::emulator::lacks_api(aws, super::Svc::Iam, &e) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(aws_error(
                    "listing IAM roles with their policies",
                    "iam:GetAccountAuthorizationDetails",
                    e,
                ))
            }
        };
        for role in page.role_detail_list.unwrap_or_default() {
            let Some(name) = role.role_name.clone().filter(|n| names.contains(n)) else {
                continue;
            };
            let policy = role
                .role_policy_list
                .unwrap_or_default()
                .into_iter()
                .find(|p| p.policy_name.as_deref() == Some(INLINE_POLICY_NAME))
                .and_then(|p| p.policy_document)
                .map(|d| decode_policy(&d));
            let live = RoleLive::new(
                role.arn.unwrap_or_default(),
                role.assume_role_policy_document.as_deref(),
                policy,
                role.tags,
            );
            out.insert(name, live);
        }
    }
    Ok(Some(out))
}

/// Reads a role and its inline policy; `None` when the role does not exist.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<RoleLive>> {
    let Some(role) = get(aws, name).await? else {
        return Ok(None);
    };
    let policy = match aws
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
    {
        Ok(out) => Some(decode_policy(&out.policy_document)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => {
            return Err(aws_error(
                &format!("reading the policy of IAM role ({name})"),
                "iam:GetRolePolicy",
                e,
            ))
        }
    };
    Ok(Some(RoleLive::new(
        role.arn,
        role.assume_role_policy_document.as_deref(),
        policy,
        role.tags,
    )))
}

fn tags(spec: &RoleSpec) -> anyhow::Result<Vec<Tag>> {
    spec.tags
        .iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

/// Creates the role, or adopts it when a crashed deploy created it already
/// (only when its tags say it is this service's). Returns the ARN.
pub async fn create(aws: &Aws, name: &str, spec: &RoleSpec) -> anyhow::Result<String> {
    let created = aws
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(spec.trust.to_string())
        .set_tags(Some(tags(spec)?))
        .send()
        .await;
    let arn = match created {
        Ok(out) => out.role.map(|r| r.arn).unwrap_or_default(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_already_exists_exception()) =>
        {
            let Some(live) = read(aws, name).await? else {
                bail!("IAM role ({name}) exists and vanished while being read; deploy again")
            };
            if !same_owner(|t| live.tags.get(t), |t| spec.tags.get(t)) {
                bail!("creating IAM role ({name}): a role of that name exists and is not this service's (no matching sls-rs tags); rename the service or stage, or delete the role");
            }
            update_trust(aws, name, spec).await?;
            live.arn
        }
        Err(e) => {
            return Err(aws_error(
                &format!("creating IAM role ({name})"),
                "iam:CreateRole",
                e,
            ))
        }
    };
    put_policy(aws, name, &spec.policy).await?;
    Ok(arn)
}

/// Writes the role's one inline policy.
pub async fn put_policy(aws: &Aws, name: &str, policy: &Value) -> anyhow::Result<()> {
    aws.iam
        .put_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("writing the policy of IAM role ({name})"),
                "iam:PutRolePolicy",
                e,
            )
        })?;
    Ok(())
}

pub async fn update_trust(aws: &Aws, name: &str, spec: &RoleSpec) -> anyhow::Result<()> {
    aws.iam
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(spec.trust.to_string())
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("updating the trust policy of IAM role ({name})"),
                "iam:UpdateAssumeRolePolicy",
                e,
            )
        })?;
    Ok(())
}

/// Sets the role's tags, and removes `remove`: tags sls-rs set before that the
/// manifest dropped (never tags that other tools put there).
pub async fn set_tags(
    aws: &Aws,
    name: &str,
    spec: &RoleSpec,
    remove: &[String],
) -> anyhow::Result<()> {
    let stale = remove.to_vec();
    if !stale.is_empty() {
        aws.iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(|e| aws_error(&format!("untagging IAM role ({name})"), "iam:UntagRole", e))?;
    }
    aws.iam
        .tag_role()
        .role_name(name)
        .set_tags(Some(tags(spec)?))
        .send()
        .await
        .map_err(|e| aws_error(&format!("tagging IAM role ({name})"), "iam:TagRole", e))?;
    Ok(())
}

/// Deletes the role and its inline policy; a missing one is already deleted.
pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws
        .iam
        .delete_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) => {}
        Err(e) => {
            return Err(aws_error(
                &format!("deleting the policy of IAM role ({name})"),
                "iam:DeleteRolePolicy",
                e,
            ))
        }
    }
    match aws.iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error(
            &format!("deleting IAM role ({name})"),
            "iam:DeleteRole",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_policy;

    #[test]
    fn policies_decode_from_iams_url_encoding_or_plain_json() {
        let v = decode_policy("%7B%22Version%22%3A%222012-10-17%22%2C%22A%22%3A%22a%20b%22%7D");
        assert_eq!(v["Version"], "2012-10-17");
        assert_eq!(v["A"], "a b");
        assert_eq!(decode_policy("{\"x\":1}")["x"], 1);
    }
}
