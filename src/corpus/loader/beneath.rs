//! The corpus folder as a boundary: listing it, and opening its files, beneath the folder
//! resolved at start-up and never outside it (see the loader's own notes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};

use super::{
    Folder, LoadReport, MAX_DEPTH, Skipped, SourceFile, SourceFormat, kind, nanos, problem,
};

/// The files of `folder` the corpus reads, sorted by path; folders that cannot be listed are
/// reported.
pub(crate) fn files(folder: &Folder, report: &mut LoadReport) -> Vec<SourceFile> {
    let mut files = Vec::new();
    match open_root(&folder.root) {
        Ok(dir) => {
            let listing = Listing { dir: Arc::new(dir) };
            listing.collect(Path::new(""), 0, &mut files, report);
        }
        Err(e) => problem(report, ".".into(), Skipped::List(e)),
    }
    files
}

/// The corpus folder, opened so that everything read through it stays beneath it.
pub(super) fn open_root(root: &Path) -> std::io::Result<Dir> {
    Dir::open_ambient_dir(root, cap_std::ambient_authority())
}

/// A listing of the corpus folder in progress: the folder, opened once, which the files listed
/// keep to be read beneath.
struct Listing {
    dir: Arc<Dir>,
}

impl Listing {
    /// Adds the files to read under `rel` (a folder relative to the root), sorted by path.
    fn collect(
        &self,
        rel: &Path,
        depth: usize,
        files: &mut Vec<SourceFile>,
        report: &mut LoadReport,
    ) {
        let listed = if rel.as_os_str().is_empty() {
            self.dir.entries()
        } else {
            self.dir.read_dir(rel)
        };
        let entries = match listed {
            Ok(entries) => entries,
            Err(e) => {
                problem(report, shown(rel), Skipped::List(e));
                return;
            }
        };
        let mut names: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            if name.to_str().is_none_or(|n| n.starts_with('.')) {
                continue;
            }
            let path = rel.join(&name);
            // The entry itself, not what a link names.
            let Ok(entry) = self.dir.symlink_metadata(&path) else {
                continue;
            };
            let kind = kind(&path);
            let ty = entry.file_type();
            if ty.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    problem(report, shown(&path), Skipped::TooDeep);
                } else {
                    self.collect(&path, depth + 1, files, report);
                }
            } else if ty.is_symlink() {
                self.link(&path, kind, files, report);
            } else if let Some(kind) = kind {
                if ty.is_file() {
                    files.push(self.file(path, kind, &entry));
                } else {
                    problem(report, shown(&path), Skipped::NotRegular);
                }
            }
        }
    }

    /// A symbolic link: read as the file it names when that lies inside the folder; a link to a
    /// folder, out of the folder or to nothing is a problem naming it.
    fn link(
        &self,
        path: &Path,
        kind: Option<SourceFormat>,
        files: &mut Vec<SourceFile>,
        report: &mut LoadReport,
    ) {
        // Resolved beneath the root: a target outside it is an error, not a file.
        let reason = match self.dir.metadata(path) {
            Err(_) => Skipped::LinkOut,
            Ok(target) if target.is_dir() => Skipped::LinkToFolder,
            Ok(target) => match kind {
                None => return,
                Some(kind) if target.is_file() => {
                    files.push(self.file(path.to_path_buf(), kind, &target));
                    return;
                }
                Some(_) => Skipped::NotRegular,
            },
        };
        problem(report, shown(path), reason);
    }

    fn file(&self, path: PathBuf, kind: SourceFormat, meta: &cap_std::fs::Metadata) -> SourceFile {
        SourceFile {
            shown: shown(&path),
            dir: self.dir.clone(),
            path,
            kind,
            size: meta.len(),
            modified: meta.modified().map_or(0, |t| nanos(t.into_std())),
        }
    }
}

/// Opens the regular file at `path` beneath the corpus folder `dir`: never a file outside it,
/// whatever links on the way say now, and never anything but a regular file outside `/proc` and
/// `/sys`. The file is opened without blocking, so a FIFO put in the file's place cannot hold
/// the load up.
pub(super) fn open(dir: &Dir, path: &Path) -> Result<std::fs::File, Skipped> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32);
    // A path that would leave the folder fails here ("a path led outside of the filesystem").
    let file = dir
        .open_with(path, &options)
        .map_err(Skipped::Open)?
        .into_std();
    let meta = file.metadata().map_err(Skipped::Read)?;
    if !meta.is_file() {
        return Err(Skipped::NotRegular);
    }
    // The type's width differs between platforms; both magic numbers fit in 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let on_proc = rustix::fs::fstatfs(&file)
        .is_ok_and(|fs| [PROC_SUPER_MAGIC, SYSFS_MAGIC].contains(&(fs.f_type as i64)));
    if on_proc {
        return Err(Skipped::Procfs);
    }
    Ok(file)
}

/// The file system types of `/proc` and `/sys` (statfs(2)).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// A path relative to the corpus folder as files are named: `/` separators, `.` for the folder.
pub(super) fn shown(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}
