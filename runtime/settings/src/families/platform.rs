//! Platform families: ECS, AWS, metrics.

use crate::schema::map_of;
use crate::values::{
    AwsRegion, Base64, EcsAttributeKey, EcsAttributeValue, EcsClusterName, EcsImagePullBehavior,
    EcsLogLevel, GoDuration, LoggingDriver, ServiceName, SingleLineString, Url,
};
use indexmap::IndexMap;

settings_struct! {
    /// `settings.ecs`: the Amazon ECS agent.
    pub struct EcsSettings {
        /// The cluster to join (name or ARN).
        cluster: EcsClusterName,
        /// Custom attributes of this container instance.
        #[schemars(schema_with = "map_of::<EcsAttributeKey, EcsAttributeValue>")]
        instance_attributes: IndexMap<EcsAttributeKey, EcsAttributeValue>,
        /// Whether tasks may run privileged containers.
        allow_privileged_containers: bool,
        /// Logging drivers available to tasks.
        logging_drivers: Vec<LoggingDriver>,
        /// The agent's log level.
        loglevel: EcsLogLevel,
        /// Drain the instance when a Spot interruption notice arrives.
        enable_spot_instance_draining: bool,
        /// How the agent pulls images.
        image_pull_behavior: EcsImagePullBehavior,
        /// How long a container gets to stop before it is killed.
        container_stop_timeout: GoDuration,
        /// How long after a task stops its containers are cleaned up.
        task_cleanup_wait: GoDuration,
        /// Steady-state requests per second allowed to the task metadata service.
        metadata_service_rps: u32,
        /// Burst requests per second allowed to the task metadata service.
        metadata_service_burst: u32,
        /// Memory (MiB) kept back from tasks.
        reserved_memory: u32,
        /// Block instance metadata access for tasks in awsvpc network mode.
        awsvpc_block_imds: bool,
        /// Write container metadata files for tasks.
        enable_container_metadata: bool,
    }
}

settings_struct! {
    /// `settings.aws`: AWS region and SDK configuration.
    pub struct AwsSettings {
        /// The AWS region (e.g. `us-west-2`).
        region: AwsRegion,
        /// Contents of the AWS config file, base64-encoded.
        config: Base64,
        /// Contents of the AWS credentials file, base64-encoded.
        credentials: Base64,
        /// The profile to use from the config and credentials files.
        profile: SingleLineString,
    }
}

settings_struct! {
    /// `settings.metrics`: anonymous health metrics.
    pub struct MetricsSettings {
        /// Where metrics are sent.
        metrics_url: Url,
        /// Whether metrics are sent.
        send_metrics: bool,
        /// Services whose health is reported.
        service_checks: Vec<ServiceName>,
    }
}
