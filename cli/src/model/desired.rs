//! `desired`: the resources of a service, kind by kind. Data resources first
//! (functions and state machines name them), then each function with its role,
//! log group, URL and triggers, then what gathers several functions (bucket
//! notifications, the HTTP API), then state machines.

use std::collections::BTreeMap;

use crate::build::PackageManifest;
use crate::manifest::{Event, Function, Service, DEFAULT_MEMORY, DEFAULT_TIMEOUT};

use super::*;

/// The desired resources of a service, in a stable order.
/// `package_root` is where the package's artifact paths start (the service directory).
pub fn desired(
    service: &Service,
    package: &PackageManifest,
    package_root: &std::path::Path,
    cx: &Context,
) -> anyhow::Result<Vec<Resource>> {
    let env_key = cx
        .env_key
        .ok_or_else(|| anyhow::anyhow!("a deploy's context needs an environment key"))?;
    let mut d = Desired {
        service,
        names: Names::new(service, cx),
        cx,
        out: Vec::new(),
    };
    d.data();
    let mut http_functions = Vec::new();
    for (key, f) in &service.manifest.functions {
        let artifact = package.functions.get(key).ok_or_else(|| {
            anyhow::anyhow!(
                "the package has no artifact for function `{key}`; run `sls-rs package` again"
            )
        })?;
        let code = Code {
            sha256: artifact.sha256.clone(),
            size: artifact.size,
            local_path: package_root.join(&artifact.path),
            s3_key: artifact_key(&artifact.sha256),
        };
        d.function(key, f, code, env_key);
        d.function_url(key, f);
        d.provisioned_scaling(key, f);
        d.alarms(key, f);
        let routes = d.triggers(key, f);
        if !routes.is_empty() {
            http_functions.push((key, routes));
        }
    }
    d.bucket_notifications();
    d.http_api(http_functions);
    d.state_machines();
    let m = &service.manifest;
    let mut out = d.out;
    for r in &mut out {
        r.delete_with_data = r.kind.holds_data() && deletes_with_data(m, &r.id) == Some(true);
    }
    Ok(out)
}

struct Desired<'a> {
    service: &'a Service,
    names: Names<'a>,
    cx: &'a Context<'a>,
    out: Vec<Resource>,
}

impl Desired<'_> {
    fn push(
        &mut self,
        id: LogicalId,
        function: &str,
        kind: Kind,
        physical: String,
        spec: Spec,
        depends_on: Vec<LogicalId>,
    ) {
        self.out.push(Resource {
            id,
            function: function.to_string(),
            kind,
            physical,
            spec,
            depends_on,
            delete_with_data: false,
        });
    }

    /// The provider's tags, then the resource's own, then sls-rs's ownership tags.
    fn tags(&self, own: &indexmap::IndexMap<String, String>) -> BTreeMap<String, String> {
        let m = &self.service.manifest;
        let mut tags: BTreeMap<String, String> = m
            .provider
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        tags.insert(TAG_SERVICE.into(), m.service.clone());
        tags.insert(TAG_STAGE.into(), self.service.stage.clone());
        tags
    }

    /// Tables, buckets and queues (a queue's dead-letter queue before it).
    fn data(&mut self) {
        let m = &self.service.manifest;
        // Existing tables, buckets and queues are the manifest's by reference only: not
        // resources. Validate refuses a table of its own without a partition key.
        for (name, t) in &m.resources.tables {
            let (None, Some(partition_key)) = (&t.existing, &t.partition_key) else {
                continue;
            };
            let spec = Spec::Table(Box::new(TableSpec {
                def: t.clone(),
                partition_key: partition_key.clone(),
                tags: self.tags(&t.tags),
            }));
            let physical = self.names.table(name);
            self.push(
                logical_id(Kind::Table, name),
                "",
                Kind::Table,
                physical,
                spec,
                vec![],
            );
        }
        for (name, b) in m
            .resources
            .buckets
            .iter()
            .filter(|(_, b)| b.existing.is_none())
        {
            let spec = Spec::Bucket(Box::new(BucketSpec {
                def: b.clone(),
                tags: self.tags(&b.tags),
            }));
            let physical = self.names.bucket(name);
            self.push(
                logical_id(Kind::Bucket, name),
                "",
                Kind::Bucket,
                physical,
                spec,
                vec![],
            );
        }
        for (name, q) in m
            .resources
            .queues
            .iter()
            .filter(|(_, q)| q.existing.is_none())
        {
            let tags = self.tags(&q.tags);
            let mut depends_on = vec![];
            let cx = self.cx;
            let dead_letter = q.dead_letter.map(|dl| {
                let dlq_id = logical_id(Kind::Queue, &format!("{name}-dlq"));
                depends_on.push(dlq_id.clone());
                let dlq = self.names.dead_letter_queue(name);
                let arn = format!("{}:sqs:{}:{}:{dlq}", cx.partition, cx.region, cx.account);
                (dlq_id, dlq, arn, dl.max_receive_count)
            });
            if let Some((dlq_id, dlq, _, _)) = &dead_letter {
                // The dead-letter queue keeps failed messages for the longest SQS allows.
                self.push(
                    dlq_id.clone(),
                    "",
                    Kind::Queue,
                    dlq.clone(),
                    Spec::Queue(QueueSpec {
                        visibility_timeout: q.visibility_timeout,
                        retention: Some(1_209_600),
                        fifo: q.fifo,
                        dead_letter: None,
                        tags: tags.clone(),
                    }),
                    vec![],
                );
            }
            let physical = self.names.queue(name);
            self.push(
                logical_id(Kind::Queue, name),
                "",
                Kind::Queue,
                physical,
                Spec::Queue(QueueSpec {
                    visibility_timeout: q.visibility_timeout,
                    retention: q.message_retention_period,
                    fifo: q.fifo,
                    dead_letter: dead_letter.map(|(_, _, arn, n)| (arn, n)),
                    tags,
                }),
                depends_on,
            );
        }
    }

    /// A function with its own role and log group.
    fn function(&mut self, key: &str, f: &Function, code: Code, env_key: &EnvKey) {
        let service = self.service;
        let m = &service.manifest;
        let name = service.function_name(key);
        let tracing = f.tracing.unwrap_or(m.provider.tracing.lambda);
        let log_group = format!("/aws/lambda/{name}");
        let role_id = logical_id(Kind::Role, key);
        let log_id = logical_id(Kind::LogGroup, key);
        let tags = self.tags(&f.tags);
        let role = self.names.function_role(key);
        let role_spec = Spec::Role(RoleSpec {
            trust: lambda_trust_policy(),
            policy: function_policy(&self.names, f, &log_group, tracing),
            tags: role_tags(&tags, self.cx.region),
        });
        self.push(
            role_id.clone(),
            key,
            Kind::Role,
            role.clone(),
            role_spec,
            vec![],
        );
        self.push(
            log_id.clone(),
            key,
            Kind::LogGroup,
            log_group.clone(),
            Spec::LogGroup(LogGroupSpec {
                retention_days: f.log_retention_in_days.or(m.provider.log_retention_in_days),
                tags: tags.clone(),
            }),
            vec![],
        );
        let mut environment: BTreeMap<String, String> = m
            .environment_of(&service.stage, f)
            .into_iter()
            .map(|(k, v)| (k, self.names.resolve(&v.value)))
            .collect();
        environment.extend(injected_environment(&self.names, f));
        let spec = FunctionSpec {
            role_name: role.clone(),
            role_arn: self.names.role_arn(&role),
            memory: f
                .memory_size
                .or(m.provider.memory_size)
                .unwrap_or(DEFAULT_MEMORY),
            timeout: f.timeout.or(m.provider.timeout).unwrap_or(DEFAULT_TIMEOUT),
            architecture: service.architecture(f),
            description: f.description.clone().unwrap_or_default(),
            environment,
            env_key: env_key.clone(),
            tags,
            tracing,
            reserved_concurrency: f.reserved_concurrency,
            provisioned_concurrency: f
                .provisioned_concurrency
                .map(|p| p.initial())
                .filter(|n| *n > 0),
            provisioned_range: f
                .provisioned_concurrency
                .and_then(|p| p.scaling())
                .map(|s| (s.min, s.max)),
            log_group,
            ephemeral_storage: m.ephemeral_storage_of(f),
            layers: m
                .layers_of(f)
                .iter()
                .map(|l| self.names.resolve(l))
                .collect(),
            logging: LoggingSpec::of(&m.logs_of(f)),
            vpc: m.vpc_of(f).map(|v| VpcSpec {
                subnet_ids: v.subnet_ids.iter().map(|s| self.names.resolve(s)).collect(),
                security_group_ids: v
                    .security_group_ids
                    .iter()
                    .map(|s| self.names.resolve(s))
                    .collect(),
            }),
            recursive_loop: match f.recursive_loop.unwrap_or_default() {
                crate::manifest::RecursiveLoop::Terminate => RECURSION_DEFAULT,
                crate::manifest::RecursiveLoop::Allow => "Allow",
            },
            code,
        };
        self.push(
            logical_id(Kind::Function, key),
            key,
            Kind::Function,
            name,
            Spec::Function(Box::new(spec)),
            vec![role_id, log_id],
        );
    }

    /// Auto scaling of the function's provisioned concurrency, on its `live` alias.
    fn provisioned_scaling(&mut self, key: &str, f: &Function) {
        let Some(s) = f.provisioned_concurrency.and_then(|p| p.scaling()) else {
            return;
        };
        let name = self.service.function_name(key);
        self.push(
            logical_id(Kind::ProvisionedScaling, key),
            key,
            Kind::ProvisionedScaling,
            name.clone(),
            Spec::ProvisionedScaling(ProvisionedScalingSpec {
                function_name: name,
                min: s.min,
                max: s.max,
                target_utilization: s.target_utilization,
            }),
            vec![logical_id(Kind::Function, key)],
        );
    }

    /// The alarms sls-rs makes to guard the function's traffic shifts.
    fn alarms(&mut self, key: &str, f: &Function) {
        let Some(d) = self.service.manifest.deployment_of(f) else {
            return;
        };
        let period = d
            .interval
            .as_deref()
            .and_then(|i| crate::manifest::parse_interval(i).ok())
            .map_or(60, |i| alarm_period(i.as_secs()));
        let function_name = self.service.function_name(key);
        let tags = self.tags(&f.tags);
        for (metric, threshold) in d.built_in_alarms() {
            self.push(
                logical_id(Kind::Alarm, &format!("{key}.{}", metric.key())),
                key,
                Kind::Alarm,
                alarm_name(&function_name, metric),
                Spec::Alarm(AlarmSpec {
                    function_name: function_name.clone(),
                    metric,
                    threshold,
                    period,
                    tags: tags.clone(),
                }),
                vec![logical_id(Kind::Function, key)],
            );
        }
    }

    /// A function's URL on its `live` alias, and for a public one the two statements
    /// AWS asks of it: `lambda:InvokeFunctionUrl` for URLs of auth type `NONE`, and
    /// `lambda:InvokeFunction` only through the URL. An `aws_iam` URL gets none: callers
    /// of this account are allowed by their own policies, as AWS documents.
    fn function_url(&mut self, key: &str, f: &Function) {
        use crate::manifest::{InvokeMode, UrlAuthorizer};
        let Some(url) = &f.url else { return };
        let name = self.service.function_name(key);
        let function_id = logical_id(Kind::Function, key);
        let public = url.authorizer == UrlAuthorizer::None;
        let mut depends_on = vec![function_id.clone()];
        if public {
            let statements = [
                ("url", "sls-rs-url", INVOKE_URL, Some("NONE"), false),
                ("urlInvoke", "sls-rs-url-invoke", INVOKE, None, true),
            ];
            for (suffix, sid, action, url_auth_type, via_url) in statements {
                let id = logical_id(Kind::Permission, &format!("{key}.{suffix}"));
                depends_on.push(id.clone());
                self.push(
                    id,
                    key,
                    Kind::Permission,
                    permission_physical(&name, sid),
                    Spec::Permission(PermissionSpec {
                        function_name: name.clone(),
                        statement_id: sid.into(),
                        principal: "*".into(),
                        source_arn: String::new(),
                        source_account: None,
                        action,
                        url_auth_type,
                        via_url,
                    }),
                    vec![function_id.clone()],
                );
            }
        }
        let cors = url.cors.as_ref().map(|c| UrlCorsSpec {
            allow_origins: c.allowed_origins.clone(),
            allow_methods: c.allowed_methods.clone(),
            allow_headers: c.allowed_headers.clone(),
            expose_headers: c.exposed_response_headers.clone(),
            allow_credentials: c.allow_credentials,
            max_age: c.max_age,
        });
        // The URL comes once anyone may call it, so it never answers 403 to a public caller.
        self.push(
            logical_id(Kind::FunctionUrl, key),
            key,
            Kind::FunctionUrl,
            name.clone(),
            Spec::FunctionUrl(FunctionUrlSpec {
                function_name: name,
                auth_type: if public { "NONE" } else { "AWS_IAM" },
                invoke_mode: match url.invoke_mode {
                    InvokeMode::Buffered => "BUFFERED",
                    InvokeMode::ResponseStream => "RESPONSE_STREAM",
                },
                cors,
            }),
            depends_on,
        );
    }

    /// A function's own triggers, all on its `live` alias; returns its HTTP API
    /// route keys, which `http_api` gathers.
    fn triggers(&mut self, key: &str, f: &Function) -> Vec<String> {
        let name = self.service.function_name(key);
        let function_id = logical_id(Kind::Function, key);
        let alias = self.names.alias_arn(key);
        let tags = self.tags(&f.tags);
        let mut routes = Vec::new();
        let mut schedules = 0;
        for event in &f.events {
            match event {
                Event::HttpApi(e) => routes.push(route_key(&e.method, &e.path)),
                Event::S3(e) => {
                    let bucket_id = logical_id(Kind::Bucket, &e.bucket);
                    let spec = Spec::Permission(PermissionSpec {
                        function_name: name.clone(),
                        statement_id: format!("sls-rs-s3-{}", e.bucket),
                        principal: "s3.amazonaws.com".into(),
                        source_arn: self.names.bucket_arn(&e.bucket),
                        // Bucket ARNs carry no account: this pins the bucket to ours.
                        source_account: Some(self.cx.account.to_string()),
                        action: INVOKE,
                        url_auth_type: None,
                        via_url: false,
                    });
                    self.push(
                        logical_id(Kind::Permission, &format!("{key}.s3.{}", e.bucket)),
                        key,
                        Kind::Permission,
                        permission_physical(&name, &format!("sls-rs-s3-{}", e.bucket)),
                        spec,
                        vec![function_id.clone(), bucket_id],
                    );
                }
                Event::Schedule(e) if e.method == crate::manifest::ScheduleMethod::Scheduler => {
                    let role_id = logical_id(Kind::Role, &format!("{key}.scheduler"));
                    let role = self.names.scheduler_role(key);
                    if !self.out.iter().any(|r| r.id == role_id) {
                        let spec = Spec::Role(RoleSpec {
                            trust: scheduler_trust_policy(
                                self.cx.account,
                                &self.names.schedule_group_arn(),
                            ),
                            policy: scheduler_policy(&alias),
                            tags: role_tags(&tags, self.cx.region),
                        });
                        // Not the function's own role (rollback restores those): "" as a
                        // state machine's.
                        self.push(role_id.clone(), "", Kind::Role, role.clone(), spec, vec![]);
                    }
                    let input = e
                        .input
                        .as_ref()
                        .map(|i| self.names.resolve_json(i).to_string());
                    let spec = Spec::Schedule(ScheduleSpec {
                        expression: e.rate.clone(),
                        timezone: e.timezone.clone(),
                        enabled: e.enabled,
                        target: alias.clone(),
                        role_arn: self.names.role_arn(&role),
                        input,
                    });
                    self.push(
                        logical_id(Kind::Schedule, &format!("{key}.{schedules}")),
                        key,
                        Kind::Schedule,
                        self.names.schedule_rule(key, schedules),
                        spec,
                        vec![function_id.clone(), role_id],
                    );
                    schedules += 1;
                }
                Event::Schedule(e) => {
                    let rule = self.names.schedule_rule(key, schedules);
                    let rule_id = logical_id(Kind::Rule, &format!("{key}.{schedules}"));
                    let source_arn = self.names.schedule_rule_arn(&rule);
                    self.push(
                        logical_id(Kind::Permission, &format!("{key}.schedule.{schedules}")),
                        key,
                        Kind::Permission,
                        permission_physical(&name, &format!("sls-rs-{rule}")),
                        Spec::Permission(PermissionSpec {
                            function_name: name.clone(),
                            statement_id: format!("sls-rs-{rule}"),
                            principal: "events.amazonaws.com".into(),
                            source_arn,
                            source_account: None,
                            action: INVOKE,
                            url_auth_type: None,
                            via_url: false,
                        }),
                        vec![function_id.clone()],
                    );
                    let input = e
                        .input
                        .as_ref()
                        .map(|i| self.names.resolve_json(i).to_string());
                    self.push(
                        rule_id,
                        key,
                        Kind::Rule,
                        rule,
                        Spec::Rule(RuleSpec {
                            schedule: e.rate.clone(),
                            enabled: e.enabled,
                            target: alias.clone(),
                            input,
                            tags: tags.clone(),
                        }),
                        vec![function_id.clone()],
                    );
                    schedules += 1;
                }
                Event::Sqs(e) => {
                    let physical = format!("{} → {name}:{LIVE_ALIAS}", self.names.queue(&e.queue));
                    let source = MappingSource::Queue(self.names.queue_arn(&e.queue));
                    self.push(
                        logical_id(Kind::EventSourceMapping, &format!("{key}.sqs.{}", e.queue)),
                        key,
                        Kind::EventSourceMapping,
                        physical,
                        Spec::EventSourceMapping(EventSourceMappingSpec {
                            target: alias.clone(),
                            source,
                            batch_size: e.batch_size,
                            batching_window: e.maximum_batching_window,
                            report_batch_item_failures: e.function_response_type.is_some(),
                            starting_position: None,
                            filters: vec![],
                            maximum_concurrency: e.maximum_concurrency,
                        }),
                        {
                            let mut after = vec![function_id.clone(), role_id_of(key)];
                            // An existing queue is there already; a declared one comes first.
                            let declared = self.service.manifest.resources.queues.get(&e.queue);
                            if declared.is_none_or(|q| q.existing.is_none()) {
                                after.push(logical_id(Kind::Queue, &e.queue));
                            }
                            after
                        },
                    );
                }
                Event::Stream(e) => {
                    let physical = format!(
                        "{} stream → {name}:{LIVE_ALIAS}",
                        self.names.table(&e.table)
                    );
                    let source = MappingSource::Stream(self.names.table_arn(&e.table));
                    self.push(
                        logical_id(
                            Kind::EventSourceMapping,
                            &format!("{key}.stream.{}", e.table),
                        ),
                        key,
                        Kind::EventSourceMapping,
                        physical,
                        Spec::EventSourceMapping(EventSourceMappingSpec {
                            target: alias.clone(),
                            source,
                            batch_size: e.batch_size,
                            batching_window: e.maximum_batching_window,
                            report_batch_item_failures: false,
                            starting_position: Some(e.starting_position),
                            filters: e.filter_patterns.iter().map(|f| f.to_string()).collect(),
                            maximum_concurrency: None,
                        }),
                        {
                            let mut after = vec![function_id.clone(), role_id_of(key)];
                            // An existing table is there already; a declared one comes first.
                            let declared = self.service.manifest.resources.tables.get(&e.table);
                            if declared.is_none_or(|t| t.existing.is_none()) {
                                after.push(logical_id(Kind::Table, &e.table));
                            }
                            after
                        },
                    );
                }
            }
        }
        routes
    }

    /// One notification document per bucket, gathering every function's S3 events.
    fn bucket_notifications(&mut self) {
        let m = &self.service.manifest;
        // Validate refuses S3 events on an existing bucket (its one notification document
        // is its owner's); none is written there.
        let owned = m
            .resources
            .buckets
            .iter()
            .filter(|(_, b)| b.existing.is_none());
        for (bucket, _) in owned {
            let mut targets = Vec::new();
            let mut depends_on = vec![logical_id(Kind::Bucket, bucket)];
            for (key, f) in &m.functions {
                for (i, event) in f.events.iter().enumerate() {
                    let Event::S3(e) = event else { continue };
                    if &e.bucket != bucket {
                        continue;
                    }
                    targets.push(NotificationTarget {
                        id: format!("sls-rs-{key}-{i}"),
                        function: self.names.alias_arn(key),
                        events: e.events.clone(),
                        prefix: e.prefix.clone(),
                        suffix: e.suffix.clone(),
                    });
                    // S3 checks that it may invoke the function when the configuration is written.
                    depends_on.push(logical_id(Kind::Permission, &format!("{key}.s3.{bucket}")));
                }
            }
            if !targets.is_empty() {
                depends_on.dedup();
                let physical = self.names.bucket(bucket);
                self.push(
                    logical_id(Kind::BucketNotification, bucket),
                    "",
                    Kind::BucketNotification,
                    physical,
                    Spec::BucketNotification(BucketNotificationSpec { targets }),
                    depends_on,
                );
            }
        }
    }

    /// The service's HTTP API, with each function's routes and the permission
    /// API Gateway needs to invoke it.
    fn http_api(&mut self, http_functions: Vec<(&String, Vec<String>)>) {
        if http_functions.is_empty() {
            return;
        }
        let service = self.service;
        let cx = self.cx;
        let api_id = logical_id(Kind::HttpApi, "api");
        let spec = Spec::HttpApi(HttpApiSpec {
            cors: service.manifest.provider.http_api.cors.clone(),
            tags: self.tags(&Default::default()),
        });
        self.push(
            api_id.clone(),
            "",
            Kind::HttpApi,
            self.names.http_api(),
            spec,
            vec![],
        );
        for (key, routes) in http_functions {
            let name = service.function_name(key);
            self.push(
                logical_id(Kind::Permission, &format!("{key}.httpApi")),
                key,
                Kind::Permission,
                permission_physical(&name, "sls-rs-http-api"),
                Spec::Permission(PermissionSpec {
                    function_name: name.clone(),
                    statement_id: "sls-rs-http-api".into(),
                    principal: "apigateway.amazonaws.com".into(),
                    // The API's id is known once it exists: the engine fills it in.
                    source_arn: format!(
                        "{}:execute-api:{}:{}:{HTTP_API_ID}/*",
                        cx.partition, cx.region, cx.account
                    ),
                    source_account: None,
                    action: INVOKE,
                    url_auth_type: None,
                    via_url: false,
                }),
                vec![logical_id(Kind::Function, key), api_id.clone()],
            );
            for route in routes {
                let target = self.names.alias_arn(key);
                self.push(
                    logical_id(Kind::Route, &route),
                    key,
                    Kind::Route,
                    route.clone(),
                    Spec::Route(RouteSpec {
                        route_key: route,
                        target,
                    }),
                    vec![logical_id(Kind::Function, key), api_id.clone()],
                );
            }
        }
    }

    /// Each state machine with its own role and log group.
    fn state_machines(&mut self) {
        let m = &self.service.manifest;
        for (name, sm) in &m.resources.state_machines {
            let role = self.names.state_machine_role(name);
            let role_id = logical_id(Kind::Role, &format!("stateMachine.{name}"));
            let log_id = logical_id(Kind::LogGroup, &format!("stateMachine.{name}"));
            let group = self.names.state_machine_log_group(name);
            let tags = self.tags(&sm.tags);
            let definition = self.names.resolve_json(&sm.definition);
            let tracing = m.provider.tracing.step_functions;
            let role_spec = Spec::Role(RoleSpec {
                trust: states_trust_policy(self.cx.account, &self.names.state_machine_arn(name)),
                policy: state_machine_policy(&self.names, &sm.definition, tracing),
                tags: role_tags(&tags, self.cx.region),
            });
            self.push(
                role_id.clone(),
                "",
                Kind::Role,
                role.clone(),
                role_spec,
                vec![],
            );
            self.push(
                log_id.clone(),
                "",
                Kind::LogGroup,
                group.clone(),
                Spec::LogGroup(LogGroupSpec {
                    retention_days: m.provider.log_retention_in_days,
                    tags: tags.clone(),
                }),
                vec![],
            );
            // The functions it calls exist before it does (their aliases follow at cutover).
            let mut depends_on = vec![role_id, log_id];
            depends_on.extend(
                m.functions
                    .keys()
                    .filter(|k| sm.definition.to_string().contains(&format!("${{fn:{k}")))
                    .map(|k| logical_id(Kind::Function, k)),
            );
            let spec = Spec::StateMachine(StateMachineSpec {
                definition: definition.to_string(),
                express: sm.kind == crate::manifest::StateMachineType::Express,
                role_arn: self.names.role_arn(&role),
                log_group_arn: self.names.log_group_arn(&group),
                tracing,
                tags,
            });
            self.push(
                logical_id(Kind::StateMachine, name),
                "",
                Kind::StateMachine,
                self.names.state_machine(name),
                spec,
                depends_on,
            );
        }
    }
}
