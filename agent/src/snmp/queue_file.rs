//! The durable file of pending informs: the write discipline around its format, re-exported
//! as `snmp::queue_store::{save, load}`.
//!
//! The format (magic, checksummed records, `encode`, `decode`) is pure and lives in
//! `ha_core::snmp::queue_store`. This module owns the durable write (write a temporary file,
//! fsync it, rename it over the old one, fsync the directory: after [`save`] returns, a power
//! cut leaves the old image or the new one, never a mix) and the load.

#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ha_core::snmp::queue_store::{decode, encode, Loaded, StoreImage, MAX_FILE_BYTES, QUEUE_FILE};

/// Write `image` to `dir/QUEUE_FILE` durably (tmp, fsync, rename, fsync dir).
pub fn save(dir: &Path, image: &StoreImage) -> io::Result<()> {
    let bytes = encode(image);
    let tmp = dir.join(format!(".{QUEUE_FILE}.tmp"));
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(QUEUE_FILE))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Load `dir/QUEUE_FILE`; a missing file is an empty image. Damage is logged and counted.
pub fn load(dir: &Path) -> io::Result<Loaded> {
    let path = dir.join(QUEUE_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
    let loaded = decode(&bytes);
    if loaded.damaged_records > 0 {
        log::warn!(
            "{}: dropped {} damaged record(s) of pending informs",
            path.display(),
            loaded.damaged_records
        );
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_core::snmp::queue_store::sample_image as image;

    #[test]
    fn roundtrips_through_a_durable_file() {
        let dir = std::env::temp_dir().join(format!("ha-snmp-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir).unwrap(), Loaded::default());
        save(&dir, &image()).unwrap();
        assert_eq!(load(&dir).unwrap(), Loaded { image: image(), damaged_records: 0 });
        assert!(!dir.join(format!(".{QUEUE_FILE}.tmp")).exists());
        let empty = StoreImage { next_sequence: 13, informs: vec![] };
        save(&dir, &empty).unwrap();
        assert_eq!(load(&dir).unwrap().image, empty);
        fs::remove_dir_all(&dir).unwrap();
    }
}
