//! Launch permissions: who may launch the AMIs (users, the `all` group, organizations and
//! organizational units), kept the same on the AMIs' snapshots (create-volume permission,
//! which EC2 offers for users and groups only).

use crate::amis::{AmisFile, LaunchPermission};
use crate::aws::Aws;
use crate::{Error, Result};
use aws_sdk_ec2::types::{
    ImageAttributeName, LaunchPermissionModifications, OperationType, SnapshotAttributeName,
};
use futures::stream::{self, StreamExt, TryStreamExt};

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Grant.
    Grant,
    /// Revoke.
    Revoke,
}

/// The principals to grant or revoke.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    /// AWS account ids (12 digits).
    pub user_ids: Vec<String>,
    /// Groups; EC2 knows only `all` (public).
    pub groups: Vec<String>,
    /// Organization ARNs.
    pub organization_arns: Vec<String>,
    /// Organizational unit ARNs.
    pub organizational_unit_arns: Vec<String>,
}

impl Principals {
    /// Whether no principal is named.
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty()
            && self.groups.is_empty()
            && self.organization_arns.is_empty()
            && self.organizational_unit_arns.is_empty()
    }

    /// Checks the principals before any call, so a typo changes nothing anywhere.
    pub fn check(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::Usage(
                "name whom to grant or revoke: --user-ids, --group-names, --organization-arns, --organizational-unit-arns or --make-public".into(),
            ));
        }
        for id in &self.user_ids {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Usage(format!(
                    "--user-ids: '{id}' is not an AWS account id (12 digits)"
                )));
            }
        }
        for group in &self.groups {
            if group != "all" {
                return Err(Error::Usage(format!(
                    "--group-names: '{group}' is not a launch-permission group; EC2 has only `all`"
                )));
            }
        }
        for (flag, arns, kind) in [
            (
                "--organization-arns",
                &self.organization_arns,
                ":organization/",
            ),
            (
                "--organizational-unit-arns",
                &self.organizational_unit_arns,
                ":ou/",
            ),
        ] {
            for arn in arns {
                if !arn.starts_with("arn:") || !arn.contains(kind) {
                    return Err(Error::Usage(format!(
                        "{flag}: '{arn}' is not an AWS Organizations ARN (arn:aws:organizations::<account>{kind}...)"
                    )));
                }
            }
        }
        Ok(())
    }

    fn launch_permissions(&self) -> Vec<aws_sdk_ec2::types::LaunchPermission> {
        use aws_sdk_ec2::types::{LaunchPermission as P, PermissionGroup};
        let users = self
            .user_ids
            .iter()
            .map(|u| P::builder().user_id(u).build());
        let groups = self.groups.iter().map(|g| {
            P::builder()
                .group(PermissionGroup::from(g.as_str()))
                .build()
        });
        let orgs = self
            .organization_arns
            .iter()
            .map(|a| P::builder().organization_arn(a).build());
        let ous = self
            .organizational_unit_arns
            .iter()
            .map(|a| P::builder().organizational_unit_arn(a).build());
        users.chain(groups).chain(orgs).chain(ous).collect()
    }
}

/// Grants or revokes launch permission on every AMI of `amis` and create-volume permission on
/// its snapshots, in every region, then records the live permissions in `amis`.
pub async fn modify(
    aws: &Aws,
    amis: &mut AmisFile,
    principals: &Principals,
    change: Change,
) -> Result<()> {
    principals.check()?;
    if !principals.organization_arns.is_empty() || !principals.organizational_unit_arns.is_empty() {
        tracing::info!(
            "EC2 shares snapshots with accounts and `all` only: organizations and OUs get the AMIs' launch permission; instances launch from them all the same"
        );
    }
    let updated: Vec<(String, bool, Vec<LaunchPermission>)> = stream::iter(amis.iter())
        .map(|(region, image)| async move {
            let ec2 = aws.ec2(region);
            let permissions = principals.launch_permissions();
            let modifications = match change {
                Change::Grant => LaunchPermissionModifications::builder()
                    .set_add(Some(permissions))
                    .build(),
                Change::Revoke => LaunchPermissionModifications::builder()
                    .set_remove(Some(permissions))
                    .build(),
            };
            ec2.modify_image_attribute()
                .image_id(&image.id)
                .attribute("launchPermission")
                .launch_permission(modifications)
                .send()
                .await
                .map_err(|e| Error::aws("ModifyImageAttribute", region, e))?;
            let mut snapshots = crate::ami::image_snapshots(&ec2, region, &image.id).await?;
            for snapshot in &image.snapshots {
                if !snapshots.contains(snapshot) {
                    snapshots.push(snapshot.clone());
                }
            }
            if !principals.user_ids.is_empty() || !principals.groups.is_empty() {
                for snapshot in &snapshots {
                    ec2.modify_snapshot_attribute()
                        .snapshot_id(snapshot)
                        .attribute(SnapshotAttributeName::CreateVolumePermission)
                        .operation_type(match change {
                            Change::Grant => OperationType::Add,
                            Change::Revoke => OperationType::Remove,
                        })
                        .set_user_ids(Some(principals.user_ids.clone()))
                        .set_group_names(Some(principals.groups.clone()))
                        .send()
                        .await
                        .map_err(|e| Error::aws("ModifySnapshotAttribute", region, e))?;
                }
            }
            let verb = if change == Change::Grant {
                "granted"
            } else {
                "revoked"
            };
            tracing::info!(
                "{region}: {verb} on {} and {} snapshot(s)",
                image.id,
                snapshots.len()
            );
            let (public, permissions) = live_permissions(&ec2, region, &image.id).await?;
            Ok::<_, Error>((region.clone(), public, permissions))
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    for (region, public, permissions) in updated {
        if let Some(image) = amis.get_mut(&region) {
            image.public = public;
            image.launch_permissions = permissions;
        }
    }
    Ok(())
}

/// Whether an AMI is public, and its other launch permissions, as EC2 reports them now.
pub async fn live_permissions(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    image: &str,
) -> Result<(bool, Vec<LaunchPermission>)> {
    let output = ec2
        .describe_image_attribute()
        .image_id(image)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(|e| Error::aws("DescribeImageAttribute", region, e))?;
    let mut public = false;
    let mut permissions = Vec::new();
    for p in output.launch_permissions() {
        if let Some(group) = p.group() {
            if group.as_str() == "all" {
                public = true;
                continue;
            }
            permissions.push(LaunchPermission::Group(group.as_str().to_string()));
        }
        if let Some(user) = p.user_id() {
            permissions.push(LaunchPermission::UserId(user.to_string()));
        }
        if let Some(arn) = p.organization_arn() {
            permissions.push(LaunchPermission::OrganizationArn(arn.to_string()));
        }
        if let Some(arn) = p.organizational_unit_arn() {
            permissions.push(LaunchPermission::OrganizationalUnitArn(arn.to_string()));
        }
    }
    permissions.sort();
    Ok((public, permissions))
}

/// Snapshot create-volume permission as EC2 reports it: whether public, and the user ids.
pub async fn snapshot_permissions(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    snapshot: &str,
) -> Result<(bool, Vec<String>)> {
    let output = ec2
        .describe_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .map_err(|e| Error::aws("DescribeSnapshotAttribute", region, e))?;
    let mut public = false;
    let mut users = Vec::new();
    for p in output.create_volume_permissions() {
        if p.group().map(|g| g.as_str()) == Some("all") {
            public = true;
        }
        if let Some(user) = p.user_id() {
            users.push(user.to_string());
        }
    }
    users.sort();
    Ok((public, users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_checked_before_any_call() {
        let none = Principals::default();
        assert!(none.is_empty());
        assert!(none.check().unwrap_err().to_string().contains("name whom"));
        let users = |id: &str| Principals {
            user_ids: vec![id.into()],
            ..Principals::default()
        };
        users("111122223333").check().unwrap();
        assert!(users("1111")
            .check()
            .unwrap_err()
            .to_string()
            .contains("12 digits"));
        let group = Principals {
            groups: vec!["everyone".into()],
            ..Principals::default()
        };
        assert!(group
            .check()
            .unwrap_err()
            .to_string()
            .contains("only `all`"));
    }
}
