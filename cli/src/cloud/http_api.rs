//! The service's API Gateway HTTP API (one per service and stage, `$default`
//! stage auto-deployed) and its routes, each with a Lambda proxy integration
//! (payload 2.0) on a function's `live` alias.

use std::collections::BTreeMap;

use aws_sdk_apigatewayv2::types::{Api, Cors, Integration, IntegrationType, ProtocolType};

use super::create::{create_once, no_retries};
use super::{
    aws_error, changed, dropped_tags, emulator, has_code, retry_on_conflict, Aws, Changed, Svc,
};
use crate::manifest::CorsRule;
use crate::model::{
    http_cors_text, same_owner, tag_props, HttpApiSpec, Props, RouteSpec, HTTP_API_STAGE,
    PAYLOAD_FORMAT,
};

const NOT_FOUND: &[&str] = &["NotFoundException"];

pub struct ApiLive {
    pub id: String,
    pub endpoint: String,
    pub props: Props,
}

fn what(name: &str) -> String {
    format!("HTTP API ({name})")
}

/// `arn:aws:apigateway:REGION::/apis/ID`, the API's ARN (tags are set on it).
pub fn arn(aws: &Aws, id: &str) -> String {
    format!(
        "{}:apigateway:{}::/apis/{id}",
        aws.partition(),
        aws.target.region
    )
}

/// The API's id within its ARN (the engine records the ARN).
pub fn id_of(arn: &str) -> Option<&str> {
    arn.split("/apis/")
        .nth(1)
        .map(|rest| rest.split('/').next().unwrap_or(rest))
}

/// The API's URL by its id; `None` when it is gone.
pub async fn endpoint_of(aws: &Aws, id: &str) -> anyhow::Result<Option<String>> {
    match aws.apigw.get_api().api_id(id).send().await {
        Ok(api) => Ok(Some(api.api_endpoint().unwrap_or_default().to_string())),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error(
            &format!("HTTP API ({id})"),
            "apigateway:GetApi",
            e,
        )),
    }
}

/// Whether an HTTP API's URL cannot be called: the API lives on an emulator that
/// answers with AWS's own hostname (moto, which has no data plane). An emulator
/// that serves HTTP APIs names itself in the URL (LocalStack:
/// `….execute-api.localhost.localstack.cloud:4566`).
pub fn url_not_served(aws: &Aws, url: &str) -> bool {
    aws.emulates(super::Svc::HttpApi) && aws_hostname(url)
}

fn aws_hostname(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// Finds the API by name; `None` when there is none.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<ApiLive>> {
    let Some(api) = find(aws, name, |_| true).await? else {
        return Ok(None);
    };
    let mut p = Props::new();
    let cors = api.cors_configuration().map(|c| CorsRule {
        allowed_origins: c.allow_origins().to_vec(),
        allowed_methods: c.allow_methods().to_vec(),
        allowed_headers: c.allow_headers().to_vec(),
        max_age: c.max_age().and_then(|a| u32::try_from(a).ok()),
    });
    p.insert("cors".into(), http_cors_text(cors.as_ref()));
    let tags: BTreeMap<String, String> = api
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    tag_props(&mut p, &tags);
    let id = api.api_id().unwrap_or_default();
    let stage = match default_stage(aws, name, id).await? {
        Some(true) => HTTP_API_STAGE,
        Some(false) => "$default (manual deploys)",
        None => "none",
    };
    p.insert("stage".into(), stage.into());
    Ok(Some(ApiLive {
        id: id.to_string(),
        endpoint: api.api_endpoint().unwrap_or_default().to_string(),
        props: p,
    }))
}

/// The first API of that name that `accept` takes, from one paginated listing.
async fn find(aws: &Aws, name: &str, accept: impl Fn(&Api) -> bool) -> anyhow::Result<Option<Api>> {
    let mut token = None;
    loop {
        let page = match aws.apigw.get_apis().set_next_token(token).send().await {
            Ok(page) => page,
            // An emulator without API Gateway v2 (LocalStack's free plan) holds no HTTP API.
            Err(e) if emulator::lacks_api(aws, Svc::HttpApi, &e) => return Ok(None),
            Err(e) => return Err(aws_error(&what(name), "apigateway:GetApis", e)),
        };
        token = page.next_token().map(str::to_string);
        if let Some(api) = page
            .items
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.name() == Some(name) && accept(a))
        {
            return Ok(Some(api));
        }
        if token.is_none() {
            return Ok(None);
        }
    }
}

fn cors(rule: &CorsRule) -> Cors {
    Cors::builder()
        .set_allow_origins(Some(rule.allowed_origins.clone()))
        .set_allow_methods(Some(rule.allowed_methods.clone()))
        .set_allow_headers((!rule.allowed_headers.is_empty()).then(|| rule.allowed_headers.clone()))
        .set_max_age(rule.max_age.and_then(|a| i32::try_from(a).ok()))
        .build()
}

/// Creates the API and its auto-deployed `$default` stage; returns the API's ARN.
///
/// API names are not unique and CreateApi takes no client token: a lost answer's retry
/// would make a second API. After one, the API of that name and this service's tags is
/// looked for before CreateApi is sent again.
pub async fn create(aws: &Aws, name: &str, spec: &HttpApiSpec) -> anyhow::Result<String> {
    let id = create_once(
        || async {
            let api = aws
                .apigw
                .create_api()
                .name(name)
                .protocol_type(ProtocolType::Http)
                .set_cors_configuration(spec.cors.as_ref().map(cors))
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .customize()
                .config_override(no_retries!(aws_sdk_apigatewayv2))
                .send()
                .await?;
            Ok(api.api_id().unwrap_or_default().to_string())
        },
        || find_ours(aws, name, spec),
    )
    .await?
    .map_err(|e| {
        aws_error(
            &format!("creating {}", what(name)),
            "apigateway:CreateApi",
            e,
        )
    })?;
    ensure_stage(aws, name, &id, spec).await?;
    Ok(arn(aws, &id))
}

/// The id of the API of that name that carries this service's tags.
async fn find_ours(aws: &Aws, name: &str, spec: &HttpApiSpec) -> anyhow::Result<Option<String>> {
    let ours = |api: &Api| {
        let tags = api.tags();
        same_owner(|t| tags.and_then(|m| m.get(t)), |t| spec.tags.get(t))
    };
    Ok(find(aws, name, ours)
        .await?
        .and_then(|api| api.api_id().map(str::to_string)))
}

/// Whether the API has its `$default` stage, and if so whether it auto-deploys.
async fn default_stage(aws: &Aws, name: &str, id: &str) -> anyhow::Result<Option<bool>> {
    let stage = aws.apigw.get_stage().api_id(id).stage_name("$default");
    match stage.send().await {
        Ok(s) => Ok(Some(s.auto_deploy() == Some(true))),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error(&what(name), "apigateway:GetStage", e)),
    }
}

/// The `$default` stage, auto-deployed: created, or switched to auto-deploy.
async fn ensure_stage(aws: &Aws, name: &str, id: &str, spec: &HttpApiSpec) -> anyhow::Result<()> {
    let exists = default_stage(aws, name, id).await?.is_some();
    if exists {
        aws.apigw
            .update_stage()
            .api_id(id)
            .stage_name("$default")
            .auto_deploy(true)
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "apigateway:UpdateStage", e))?;
    } else {
        let created = aws
            .apigw
            .create_stage()
            .api_id(id)
            .stage_name("$default")
            .auto_deploy(true)
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .send()
            .await;
        match created {
            Ok(_) => {}
            // The retry of a create whose answer was lost: the stage of this service's API.
            Err(e)
                if has_code(&e, &["ConflictException"])
                    && default_stage(aws, name, id).await? == Some(true) => {}
            Err(e) => return Err(aws_error(&what(name), "apigateway:CreateStage", e)),
        }
    }
    Ok(())
}

pub async fn update(
    aws: &Aws,
    name: &str,
    id: &str,
    spec: &HttpApiSpec,
    c: &Changed,
) -> anyhow::Result<()> {
    if changed(c, "stage") {
        ensure_stage(aws, name, id, spec).await?;
    }
    if changed(c, "cors") {
        match &spec.cors {
            Some(rule) => {
                aws.apigw
                    .update_api()
                    .api_id(id)
                    .cors_configuration(cors(rule))
                    .send()
                    .await
                    .map_err(|e| aws_error(&what(name), "apigateway:UpdateApi", e))?;
            }
            None => {
                aws.apigw
                    .delete_cors_configuration()
                    .api_id(id)
                    .send()
                    .await
                    .map_err(|e| aws_error(&what(name), "apigateway:DeleteCorsConfiguration", e))?;
            }
        }
    }
    if changed(c, "tags.") {
        let arn = arn(aws, id);
        aws.apigw
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "apigateway:TagResource", e))?;
        let dropped = dropped_tags(c, &spec.tags);
        if !dropped.is_empty() {
            aws.apigw
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(dropped))
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "apigateway:UntagResource", e))?;
        }
    }
    Ok(())
}

pub async fn delete(aws: &Aws, name: &str, id: &str) -> anyhow::Result<()> {
    match aws.apigw.delete_api().api_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "apigateway:DeleteApi",
            e,
        )),
    }
}

/// A route as it is: its id, its integration's id, and the comparable properties.
pub struct RouteLive {
    pub route_id: String,
    pub integration_id: Option<String>,
    pub props: Props,
}

/// Every route of the API by route key, with its integration (two listings).
pub async fn read_routes(aws: &Aws, api_id: &str) -> anyhow::Result<BTreeMap<String, RouteLive>> {
    let what = format!("HTTP API ({api_id})");
    let mut routes = Vec::new();
    let mut token = None;
    loop {
        let page = match aws
            .apigw
            .get_routes()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if has_code(&e, NOT_FOUND) => return Ok(BTreeMap::new()),
            Err(e) => return Err(aws_error(&what, "apigateway:GetRoutes", e)),
        };
        token = page.next_token().map(str::to_string);
        routes.extend(page.items.unwrap_or_default());
        if token.is_none() {
            break;
        }
    }
    let mut integrations: BTreeMap<String, (String, String)> = BTreeMap::new();
    for i in list_integrations(aws, api_id, &what).await? {
        if let Some(id) = i.integration_id {
            let uri = i.integration_uri.unwrap_or_default();
            integrations.insert(id, (uri, i.payload_format_version.unwrap_or_default()));
        }
    }
    let mut out = BTreeMap::new();
    for r in routes {
        let integration_id = r
            .target()
            .and_then(|t| t.strip_prefix("integrations/"))
            .map(str::to_string);
        let (uri, payload) = integration_id
            .as_ref()
            .and_then(|i| integrations.get(i).cloned())
            .unwrap_or_default();
        let mut p = Props::new();
        p.insert("target".into(), uri);
        p.insert("payloadFormat".into(), payload);
        out.insert(
            r.route_key().unwrap_or_default().to_string(),
            RouteLive {
                route_id: r.route_id().unwrap_or_default().to_string(),
                integration_id,
                props: p,
            },
        );
    }
    Ok(out)
}

/// A route's id, the last part of the ARN the state records for it.
pub fn route_id_of(arn: &str) -> Option<&str> {
    arn.split("/routes/").nth(1).filter(|id| !id.is_empty())
}

/// The route by its id, when it still has `route_key` (one request, where listing
/// every route and integration of the API is two, each as long as the API is big);
/// otherwise every route by key, as [`read_routes`] finds them.
async fn find_route(
    aws: &Aws,
    api_id: &str,
    route_key: &str,
    route_id: Option<&str>,
) -> anyhow::Result<Option<RouteLive>> {
    if let Some(id) = route_id {
        match aws
            .apigw
            .get_route()
            .api_id(api_id)
            .route_id(id)
            .send()
            .await
        {
            Ok(route) if route.route_key() == Some(route_key) => {
                return Ok(Some(RouteLive {
                    route_id: id.to_string(),
                    integration_id: route
                        .target()
                        .and_then(|t| t.strip_prefix("integrations/"))
                        .map(str::to_string),
                    props: Props::new(),
                }))
            }
            // Gone, or another route now: look for the key among all.
            Ok(_) => {}
            Err(e) if has_code(&e, NOT_FOUND) => {}
            Err(e) => {
                return Err(aws_error(
                    &format!("HTTP route ({route_key})"),
                    "apigateway:GetRoute",
                    e,
                ))
            }
        }
    }
    Ok(read_routes(aws, api_id).await?.remove(route_key))
}

/// What an integration's description says: the route it was made for, so one whose
/// answer was lost is found again (integrations have no name).
fn integration_description(spec: &RouteSpec) -> String {
    format!("sls-rs: {}", spec.route_key)
}

/// Creates the route's integration; after a lost answer, finds it by its description.
async fn create_integration(aws: &Aws, api_id: &str, spec: &RouteSpec) -> anyhow::Result<String> {
    let description = integration_description(spec);
    create_once(
        || async {
            let integration = retry_on_conflict(|| {
                aws.apigw
                    .create_integration()
                    .api_id(api_id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_uri(&spec.target)
                    .payload_format_version(PAYLOAD_FORMAT)
                    .description(&description)
                    .customize()
                    .config_override(no_retries!(aws_sdk_apigatewayv2))
                    .send()
            })
            .await?;
            Ok(integration.integration_id().unwrap_or_default().to_string())
        },
        || find_integration(aws, api_id, spec, &description),
    )
    .await?
    .map_err(|e| route_error(spec, "apigateway:CreateIntegration", e))
}

/// The integration made for this route that no route uses yet.
async fn find_integration(
    aws: &Aws,
    api_id: &str,
    spec: &RouteSpec,
    description: &str,
) -> anyhow::Result<Option<String>> {
    let used: std::collections::BTreeSet<String> = read_routes(aws, api_id)
        .await?
        .into_values()
        .filter_map(|r| r.integration_id)
        .collect();
    let what = format!("HTTP route ({})", spec.route_key);
    Ok(list_integrations(aws, api_id, &what)
        .await?
        .into_iter()
        .find(|i| {
            i.description() == Some(description)
                && i.integration_uri() == Some(spec.target.as_str())
                && i.integration_id().is_some_and(|id| !used.contains(id))
        })
        .and_then(|i| i.integration_id))
}

/// Every integration of the API (one paginated listing).
async fn list_integrations(
    aws: &Aws,
    api_id: &str,
    what: &str,
) -> anyhow::Result<Vec<Integration>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .apigw
            .get_integrations()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error(what, "apigateway:GetIntegrations", e))?;
        token = page.next_token().map(str::to_string);
        out.extend(page.items.unwrap_or_default());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Creates the route and its integration (or repairs one left half-made); returns the route's ARN.
/// The plan read the API's routes once: one there already (a deploy that died before
/// recording it) is met as a ConflictException and brought in line, without every
/// create listing the API's routes again.
pub async fn create_route(aws: &Aws, api_id: &str, spec: &RouteSpec) -> anyhow::Result<String> {
    let integration = create_integration(aws, api_id, spec).await?;
    let find_route = || async {
        Ok(read_routes(aws, api_id)
            .await?
            .remove(&spec.route_key)
            .map(|r| r.route_id))
    };
    let created = create_once(
        || async {
            let route = retry_on_conflict(|| {
                aws.apigw
                    .create_route()
                    .api_id(api_id)
                    .route_key(&spec.route_key)
                    .target(format!("integrations/{integration}"))
                    .customize()
                    .config_override(no_retries!(aws_sdk_apigatewayv2))
                    .send()
            })
            .await?;
            Ok(route.route_id().unwrap_or_default().to_string())
        },
        find_route,
    )
    .await?;
    let route_id = match created {
        Ok(id) => id,
        // "Route with key … already exists": made meanwhile (a deploy that died before
        // recording it, or this one's own create whose answer was lost): brought in
        // line, taking the integration made above where it has none.
        Err(e) if has_code(&e, &["ConflictException"]) => match find_route().await? {
            Some(id) => {
                let (_, used) =
                    update_route(aws, api_id, spec, Some(&id), Some(&integration)).await?;
                if used != integration {
                    delete_integration(aws, api_id, &integration, &spec.route_key).await?;
                }
                id
            }
            None => {
                let _ = delete_integration(aws, api_id, &integration, &spec.route_key).await;
                return Err(route_error(spec, "apigateway:CreateRoute", e));
            }
        },
        Err(e) => {
            // The integration made above would serve no route: it goes (the error is the create's).
            let _ = delete_integration(aws, api_id, &integration, &spec.route_key).await;
            return Err(route_error(spec, "apigateway:CreateRoute", e));
        }
    };
    Ok(route_arn(aws, api_id, &route_id))
}

fn route_error<E>(
    spec: &RouteSpec,
    operation: &str,
    e: aws_sdk_apigatewayv2::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> anyhow::Error
where
    E: aws_sdk_apigatewayv2::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    aws_error(&format!("HTTP route ({})", spec.route_key), operation, e)
}

pub fn route_arn(aws: &Aws, api_id: &str, route_id: &str) -> String {
    format!("{}/routes/{route_id}", arn(aws, api_id))
}

/// Points the route's integration at the spec's target; returns the route's id and
/// its integration's. `route_id`: the id the state records, read alone rather than
/// listing the API. `spare`: an integration made for this route, used when the route
/// has none.
pub async fn update_route(
    aws: &Aws,
    api_id: &str,
    spec: &RouteSpec,
    route_id: Option<&str>,
    spare: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let route = find_route(aws, api_id, &spec.route_key, route_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("HTTP route ({}) does not exist", spec.route_key))?;
    let integration = match route.integration_id {
        Some(id) => {
            retry_on_conflict(|| {
                aws.apigw
                    .update_integration()
                    .api_id(api_id)
                    .integration_id(&id)
                    .integration_uri(&spec.target)
                    .payload_format_version(PAYLOAD_FORMAT)
                    .send()
            })
            .await
            .map_err(|e| route_error(spec, "apigateway:UpdateIntegration", e))?;
            id
        }
        None => {
            let integration = match spare {
                Some(id) => id.to_string(),
                None => create_integration(aws, api_id, spec).await?,
            };
            retry_on_conflict(|| {
                aws.apigw
                    .update_route()
                    .api_id(api_id)
                    .route_id(&route.route_id)
                    .target(format!("integrations/{integration}"))
                    .send()
            })
            .await
            .map_err(|e| route_error(spec, "apigateway:UpdateRoute", e))?;
            integration
        }
    };
    Ok((route.route_id, integration))
}

/// The route's id: the one the state records while it still has that key, else found by key.
pub async fn route_id(
    aws: &Aws,
    api_id: &str,
    route_key: &str,
    recorded: Option<&str>,
) -> anyhow::Result<Option<String>> {
    Ok(find_route(aws, api_id, route_key, recorded)
        .await?
        .map(|r| r.route_id))
}

/// Deletes a route (by its ARN) and its integration; gone already is fine.
pub async fn delete_route(aws: &Aws, route_arn: &str, route_key: &str) -> anyhow::Result<()> {
    let Some(api_id) = id_of(route_arn) else {
        return Ok(());
    };
    let Some(route) = find_route(aws, api_id, route_key, route_id_of(route_arn)).await? else {
        return Ok(());
    };
    let what = format!("HTTP route ({route_key})");
    match retry_on_conflict(|| {
        aws.apigw
            .delete_route()
            .api_id(api_id)
            .route_id(&route.route_id)
            .send()
    })
    .await
    {
        Ok(_) => {}
        Err(e) if has_code(&e, NOT_FOUND) => {}
        Err(e) => return Err(aws_error(&what, "apigateway:DeleteRoute", e)),
    }
    match route.integration_id {
        Some(id) => delete_integration(aws, api_id, &id, route_key).await,
        None => Ok(()),
    }
}

/// Deletes an integration; gone already is fine.
async fn delete_integration(
    aws: &Aws,
    api_id: &str,
    id: &str,
    route_key: &str,
) -> anyhow::Result<()> {
    match retry_on_conflict(|| {
        aws.apigw
            .delete_integration()
            .api_id(api_id)
            .integration_id(id)
            .send()
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("HTTP route ({route_key})"),
            "apigateway:DeleteIntegration",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emulators_url_with_aws_hostname_is_the_one_not_served() {
        assert!(aws_hostname(
            "https://abc123.execute-api.us-east-1.amazonaws.com"
        ));
        assert!(aws_hostname(
            "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/"
        ));
        assert!(!aws_hostname(
            "https://abc123.execute-api.localhost.localstack.cloud:4566"
        ));
        assert!(!aws_hostname(
            "http://127.0.0.1:4566/_aws/execute-api/abc123"
        ));
    }
}
