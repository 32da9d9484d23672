//! AMIs: upload the disks, register the image in the first region (or reuse the one that has
//! the name), copy it to the other regions, and check the live state against `amis.json`.

use crate::amis::{AmisFile, Image};
use crate::artifacts::PreparedImages;
use crate::aws::{Aws, Region};
use crate::permissions::live_permissions;
use crate::progress::UploadBar;
use crate::{Error, Result};
use aws_sdk_ec2::types::{
    ArchitectureValues, BlockDeviceMapping, BootModeValues, EbsBlockDevice, Filter, ImageState,
    ImdsSupportValues, ResourceType, SnapshotState, Tag, TagSpecification, TpmSupportValues,
    VolumeType,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::time::{Duration, Instant};
use twoliter_ebs_upload::{UploadOptions, Uploaded};
use twoliter_project::{AmiSpec, Arch};

/// Regions copied to at the same time.
const COPY_PARALLELISM: usize = 4;

/// What to register and where.
#[derive(Debug, Clone)]
pub struct AmiOptions {
    /// The AMI name (unique per account and region).
    pub name: String,
    /// The AMI description.
    pub description: String,
    /// Regions; the first is where the snapshots are uploaded and the AMI registered.
    pub regions: Vec<Region>,
    /// The architecture.
    pub arch: Arch,
    /// Registration settings from the variant.
    pub spec: AmiSpec,
    /// Size of the root volume, GiB.
    pub os_volume_gib: i32,
    /// Size of the data volume, GiB (split plan only).
    pub data_volume_gib: Option<i32>,
    /// Upload settings (blocks in flight, retries).
    pub upload: UploadOptions,
    /// How long to wait for a snapshot or image to become ready.
    pub wait_timeout: Duration,
}

/// What one `publish ami` did, for `--json` and the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishReport {
    /// Regions where an AMI with the name already existed and was reused.
    pub reused: Vec<String>,
    /// Regions where an AMI was registered or copied.
    pub created: Vec<String>,
    /// The uploads (none when the AMI was reused).
    pub uploads: Vec<Uploaded>,
}

/// Registers the AMI in the first region (uploading `images`) unless one with the name exists,
/// then copies it to every other region that lacks it. Returns the AMIs by region.
pub async fn publish(
    aws: &Aws,
    images: &PreparedImages,
    options: &AmiOptions,
) -> Result<(AmisFile, PublishReport)> {
    let regions: Vec<String> = options.regions.iter().map(Region::to_string).collect();
    let (first, others) = regions
        .split_first()
        .ok_or_else(|| Error::Usage("no region to publish to".into()))?;
    let ec2 = aws.ec2(first);
    let mut report = PublishReport::default();
    let mut uploaded_snapshots = Vec::new();
    let source_id = match find_by_name(&ec2, first, &options.name).await? {
        Some(id) => {
            tracing::info!(
                "{first}: AMI '{}' already exists as {id}; reusing it",
                options.name
            );
            report.reused.push(first.clone());
            id
        }
        None => {
            let ebs = aws.ebs(first);
            let mut snapshots = Vec::new();
            let disks = std::iter::once(&images.os).chain(images.data.as_ref());
            for path in disks {
                let bar = UploadBar::new(first, path);
                let result = twoliter_ebs_upload::upload_file(&ebs, path, &options.upload, &bar)
                    .await
                    .map_err(|source| Error::Upload {
                        path: path.clone(),
                        region: first.clone(),
                        source: Box::new(source),
                    });
                let uploaded = match result {
                    Ok(uploaded) => uploaded,
                    Err(e) => {
                        delete_snapshots(&ec2, first, &snapshots).await;
                        return Err(e);
                    }
                };
                tracing::info!(
                    "{first}: {} is snapshot {} ({} of {} blocks sent, {} zero blocks skipped)",
                    path.display(),
                    uploaded.snapshot_id,
                    uploaded.blocks_sent,
                    uploaded.blocks_total,
                    uploaded.blocks_skipped
                );
                snapshots.push(uploaded.snapshot_id.clone());
                report.uploads.push(uploaded);
            }
            let id = match register_after_snapshots(&ec2, first, &snapshots, options).await {
                Ok(id) => id,
                Err(e) => {
                    delete_snapshots(&ec2, first, &snapshots).await;
                    return Err(e);
                }
            };
            tracing::info!("{first}: registered AMI {id} '{}'", options.name);
            report.created.push(first.clone());
            uploaded_snapshots = snapshots;
            id
        }
    };
    wait_image(&ec2, first, &source_id, options.wait_timeout).await?;

    let copies: Vec<(String, String, bool)> = stream::iter(others.iter().cloned())
        .map(|region| {
            let source_id = source_id.clone();
            async move {
                let ec2 = aws.ec2(&region);
                let (id, reused) = match find_by_name(&ec2, &region, &options.name).await? {
                    Some(id) => {
                        tracing::info!(
                            "{region}: AMI '{}' already exists as {id}; reusing it",
                            options.name
                        );
                        (id, true)
                    }
                    None => {
                        let id = copy(&ec2, &region, first, &source_id, options).await?;
                        tracing::info!("{region}: copied {source_id} from {first} as {id}");
                        (id, false)
                    }
                };
                wait_image(&ec2, &region, &id, options.wait_timeout).await?;
                Ok::<_, Error>((region, id, reused))
            }
        })
        .buffer_unordered(COPY_PARALLELISM)
        .try_collect()
        .await?;

    let mut amis = AmisFile::new();
    let mut all = vec![(first.clone(), source_id, uploaded_snapshots)];
    for (region, id, reused) in copies {
        if reused {
            report.reused.push(region.clone());
        } else {
            report.created.push(region.clone());
        }
        all.push((region, id, Vec::new()));
    }
    for (region, id, known_snapshots) in all {
        let ec2 = aws.ec2(&region);
        let mut snapshots = known_snapshots;
        for snapshot in image_snapshots(&ec2, &region, &id).await? {
            if !snapshots.contains(&snapshot) {
                snapshots.push(snapshot);
            }
        }
        let (public, launch_permissions) = live_permissions(&ec2, &region, &id).await?;
        amis.insert(
            region,
            Image {
                id,
                name: options.name.clone(),
                public,
                launch_permissions,
                snapshots,
            },
        );
    }
    report.created.sort();
    report.reused.sort();
    Ok((amis, report))
}

/// The id of the caller's AMI named `name` in `region`, if there is one.
pub async fn find_by_name(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    name: &str,
) -> Result<Option<String>> {
    let output = ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("name").values(name).build())
        .send()
        .await
        .map_err(|e| Error::aws("DescribeImages", region, e))?;
    let mut ids: Vec<String> = output
        .images()
        .iter()
        .filter(|i| i.state() != Some(&ImageState::Deregistered))
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect();
    match ids.len() {
        0 | 1 => Ok(ids.pop()),
        _ => Err(Error::Wait {
            what: format!("AMI name '{name}'"),
            region: region.to_string(),
            message: format!(
                "{} AMIs have this name ({}); deregister the extra ones",
                ids.len(),
                ids.join(", ")
            ),
        }),
    }
}

async fn register_after_snapshots(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    snapshots: &[String],
    options: &AmiOptions,
) -> Result<String> {
    for snapshot in snapshots {
        wait_snapshot(ec2, region, snapshot, options.wait_timeout).await?;
    }
    register(ec2, region, snapshots, options).await
}

/// The EC2 tags of the variant's AMI spec.
fn tags(spec: &AmiSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `RegisterImage` as DESIGN §4 says: HVM, ENA, SR-IOV, `/dev/xvda` from the OS snapshot and
/// `/dev/xvdb` from the data snapshot, and the variant's boot mode, TPM and IMDS settings.
async fn register(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    snapshots: &[String],
    options: &AmiOptions,
) -> Result<String> {
    let spec = &options.spec;
    let volume = |snapshot: &str, size: i32| {
        EbsBlockDevice::builder()
            .snapshot_id(snapshot)
            .volume_size(size)
            .volume_type(VolumeType::from(spec.volume_type.as_str()))
            .delete_on_termination(true)
            .build()
    };
    let mut mappings = vec![BlockDeviceMapping::builder()
        .device_name("/dev/xvda")
        .ebs(volume(&snapshots[0], options.os_volume_gib))
        .build()];
    if let (Some(data), Some(size)) = (snapshots.get(1), options.data_volume_gib) {
        mappings.push(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvdb")
                .ebs(volume(data, size))
                .build(),
        );
    }
    let mut request = ec2
        .register_image()
        .name(&options.name)
        .description(&options.description)
        .architecture(ArchitectureValues::from(options.arch.ec2_name()))
        .virtualization_type("hvm")
        .root_device_name("/dev/xvda")
        .ena_support(true)
        .sriov_net_support("simple")
        .set_block_device_mappings(Some(mappings));
    if let Some(mode) = spec.boot_mode {
        request = request.boot_mode(BootModeValues::from(mode.as_str()));
    }
    if spec.tpm {
        request = request.tpm_support(TpmSupportValues::V20);
    }
    if spec.imds_v2_only {
        request = request.imds_support(ImdsSupportValues::V20);
    }
    if !spec.tags.is_empty() {
        request = request.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Image)
                .set_tags(Some(tags(spec)))
                .build(),
        );
    }
    let output = request
        .send()
        .await
        .map_err(|e| Error::aws("RegisterImage", region, e))?;
    output
        .image_id()
        .map(str::to_string)
        .ok_or_else(|| Error::Aws {
            operation: "RegisterImage",
            region: region.to_string(),
            message: "the response names no image id".into(),
        })
}

async fn copy(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    source_region: &str,
    source_id: &str,
    options: &AmiOptions,
) -> Result<String> {
    let output = ec2
        .copy_image()
        .source_region(source_region)
        .source_image_id(source_id)
        .name(&options.name)
        .description(&options.description)
        .copy_image_tags(true)
        .client_token(
            format!("{}-{region}", options.name)
                .chars()
                .take(64)
                .collect::<String>(),
        )
        .send()
        .await
        .map_err(|e| Error::aws("CopyImage", region, e))?;
    output
        .image_id()
        .map(str::to_string)
        .ok_or_else(|| Error::Aws {
            operation: "CopyImage",
            region: region.to_string(),
            message: "the response names no image id".into(),
        })
}

/// Deletes snapshots a failed publish leaves behind; failures are logged, not returned, so the
/// original error reaches the user.
async fn delete_snapshots(ec2: &aws_sdk_ec2::Client, region: &str, snapshots: &[String]) {
    for snapshot in snapshots {
        match ec2.delete_snapshot().snapshot_id(snapshot).send().await {
            Ok(_) => tracing::warn!("{region}: deleted snapshot {snapshot} after the failure"),
            Err(e) => tracing::error!(
                "{region}: could not delete snapshot {snapshot} ({}); delete it by hand",
                crate::error::describe_sdk_error(&e)
            ),
        }
    }
}

/// What one look at a resource found.
enum Look {
    /// Ready.
    Ready,
    /// Still in this state.
    Pending(String),
    /// Failed for good, with this state.
    Failed(String),
}

/// Polls `look` with back-off (1 s doubling to 15 s) until the resource is ready; fails when it
/// fails or `timeout` passes.
async fn wait_for<F, Fut>(timeout: Duration, what: &str, region: &str, mut look: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Look>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_secs(1);
    loop {
        let message = match look().await? {
            Look::Ready => return Ok(()),
            Look::Failed(state) => format!("it failed (state `{state}`)"),
            Look::Pending(state) if started.elapsed() >= timeout => format!(
                "still {state} after {} s; raise --wait-timeout or check the AWS console",
                timeout.as_secs()
            ),
            Look::Pending(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(15));
                continue;
            }
        };
        return Err(Error::Wait {
            what: what.to_string(),
            region: region.to_string(),
            message,
        });
    }
}

/// Waits until a snapshot is `completed`; `error` fails at once.
pub async fn wait_snapshot(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    snapshot: &str,
    timeout: Duration,
) -> Result<()> {
    wait_for(timeout, &format!("snapshot {snapshot}"), region, || async {
        let output = ec2
            .describe_snapshots()
            .snapshot_ids(snapshot)
            .send()
            .await
            .map_err(|e| Error::aws("DescribeSnapshots", region, e))?;
        Ok(match output.snapshots().first().and_then(|s| s.state()) {
            Some(SnapshotState::Completed) => Look::Ready,
            Some(state @ SnapshotState::Error) => Look::Failed(state.as_str().into()),
            Some(state) => Look::Pending(state.as_str().into()),
            None => Look::Pending("not visible yet".into()),
        })
    })
    .await
}

/// Waits until an image is `available`; `failed`, `invalid` or `error` fail at once.
pub async fn wait_image(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    image: &str,
    timeout: Duration,
) -> Result<()> {
    wait_for(timeout, &format!("image {image}"), region, || async {
        let output = ec2
            .describe_images()
            .image_ids(image)
            .send()
            .await
            .map_err(|e| Error::aws("DescribeImages", region, e))?;
        Ok(match output.images().first().and_then(|i| i.state()) {
            Some(ImageState::Available) => Look::Ready,
            Some(state @ (ImageState::Failed | ImageState::Invalid | ImageState::Error)) => {
                Look::Failed(state.as_str().into())
            }
            Some(state) => Look::Pending(state.as_str().into()),
            None => Look::Pending("not visible yet".into()),
        })
    })
    .await
}

/// The snapshots an image's block-device mappings name.
pub async fn image_snapshots(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    image: &str,
) -> Result<Vec<String>> {
    let output = ec2
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .map_err(|e| Error::aws("DescribeImages", region, e))?;
    Ok(output
        .images()
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect())
}

/// One difference between `amis.json` and AWS.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// The region.
    pub region: String,
    /// The AMI id from the file.
    pub id: String,
    /// What differs.
    pub problem: String,
}

/// Compares every AMI of `amis` with its live state: it exists, has the name, is available,
/// and its launch permissions are those the file records.
pub async fn validate(aws: &Aws, amis: &AmisFile) -> Result<Vec<Mismatch>> {
    let checks = stream::iter(amis.iter())
        .map(|(region, image)| async move {
            let ec2 = aws.ec2(region);
            let mismatch = |problem: String| Mismatch {
                region: region.clone(),
                id: image.id.clone(),
                problem,
            };
            let output = ec2.describe_images().image_ids(&image.id).send().await;
            let output = match output {
                Ok(output) => output,
                Err(e) => {
                    let message = crate::error::describe_sdk_error(&e);
                    if message.contains("InvalidAMIID") {
                        return Ok(vec![mismatch(format!("does not exist ({message})"))]);
                    }
                    return Err(Error::Aws {
                        operation: "DescribeImages",
                        region: region.clone(),
                        message,
                    });
                }
            };
            let Some(live) = output.images().first() else {
                return Ok(vec![mismatch("does not exist".into())]);
            };
            let mut problems = Vec::new();
            if live.name() != Some(image.name.as_str()) {
                problems.push(mismatch(format!(
                    "is named '{}', the file says '{}'",
                    live.name().unwrap_or_default(),
                    image.name
                )));
            }
            if live.state() != Some(&ImageState::Available) {
                problems.push(mismatch(format!(
                    "is {}, not available",
                    live.state().map(|s| s.as_str()).unwrap_or("in no state")
                )));
            }
            let (public, mut permissions) = live_permissions(&ec2, region, &image.id).await?;
            let mut expected = image.launch_permissions.clone();
            expected.sort();
            permissions.sort();
            if public != image.public {
                problems.push(mismatch(format!(
                    "is {}, the file says {}",
                    if public { "public" } else { "private" },
                    if image.public { "public" } else { "private" }
                )));
            }
            if permissions != expected {
                problems.push(mismatch(format!(
                    "may be launched by {}, the file says {}",
                    crate::amis::describe_permissions(&permissions),
                    crate::amis::describe_permissions(&expected)
                )));
            }
            Ok::<_, Error>(problems)
        })
        .buffer_unordered(COPY_PARALLELISM)
        .try_collect::<Vec<_>>()
        .await?;
    let mut all: Vec<Mismatch> = checks.into_iter().flatten().collect();
    all.sort_by(|a, b| a.region.cmp(&b.region));
    Ok(all)
}
