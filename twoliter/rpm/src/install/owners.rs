//! Owner names to ids, from the root's own `etc/passwd` and `etc/group`.

use super::*;

/// Name → id maps for owners.
pub(super) struct Ids {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

/// Reads `name:x:id:...` lines of a passwd or group file in the root, if it is a regular file.
pub(super) fn read_id_file(path: &Path) -> Result<HashMap<String, u32>> {
    let mut map = HashMap::new();
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(map),
    }
    let text = fs::read(path).map_err(io_err("read", path))?;
    for line in String::from_utf8_lossy(&text).lines() {
        let mut fields = line.split(':');
        if let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) {
            if let Ok(id) = id.trim().parse::<u32>() {
                map.entry(name.trim().to_owned()).or_insert(id);
            }
        }
    }
    Ok(map)
}

impl Installer {
    pub(super) fn load_ids(&self) -> Result<Ids> {
        let mut users = read_id_file(&self.root.join("etc/passwd"))?;
        let mut groups = read_id_file(&self.root.join("etc/group"))?;
        for (name, id) in &self.options.users {
            users.insert(name.clone(), *id);
        }
        for (name, id) in &self.options.groups {
            groups.insert(name.clone(), *id);
        }
        users.entry("root".into()).or_insert(0);
        groups.entry("root".into()).or_insert(0);
        Ok(Ids { users, groups })
    }
}

impl Run<'_> {
    pub(super) fn owner_id(
        &self,
        rel: &Path,
        kind: &'static str,
        name: Option<&String>,
        raw: u32,
    ) -> Result<u32> {
        let Some(name) = name else {
            return Ok(raw);
        };
        let map = if kind == "user" {
            &self.ids.users
        } else {
            &self.ids.groups
        };
        if let Some(id) = map.get(name) {
            return Ok(*id);
        }
        if let Ok(id) = name.parse::<u32>() {
            return Ok(id);
        }
        Err(Error::UnknownOwner {
            package: self.package.to_owned(),
            entry: format!("/{}", rel.display()),
            kind,
            name: name.clone(),
        })
    }
}
