//! The user's folders stay theirs: nothing outside the corpus folder is read, whatever its links
//! say or become, no special file is read, and only index folders this server made are removed.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::tests::{Temp, indexes, source};
use super::*;

fn everyone() -> Access {
    Access::new(&["finance".into(), "support".into()], &["/board".into()])
}

/// Every document id the corpus serves.
fn served(corpus: &Corpus) -> Vec<String> {
    let mut ids: Vec<String> = corpus
        .search("document OR root OR secret OR localhost", &everyone(), 100)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    ids.sort();
    ids
}

/// The problems of a load, as `path: reason` lines.
fn problems(report: &LoadReport) -> Vec<String> {
    report
        .first_problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.reason))
        .collect()
}

fn has_problem(report: &LoadReport, path: &str, words: &str) -> bool {
    report
        .first_problems
        .iter()
        .any(|p| p.path == path && p.reason.contains(words))
}

/// A corpus with one document, a secret file beside the folder, and links of every kind.
fn linked() -> (Temp, Temp) {
    let t = Temp::new("links");
    t.write("a.md", "# A\n\nthe first document\n");
    t.write("docs/b.md", "# B\n\nanother document\n");
    let outside = Temp::new("outside");
    outside.write("secret.md", "# Secret\n\nthe secret payroll\n");
    let l = |target: &Path, link: &str| symlink(target, t.0.join(link)).unwrap();
    l(Path::new("/etc/passwd"), "passwd.txt");
    l(Path::new("/proc/self/environ"), "env.txt");
    l(&outside.0.join("secret.md"), "secret.md");
    l(Path::new("../../outside/secret.md"), "docs/relative.md");
    l(Path::new("missing.md"), "dangling.md");
    // Folder links: one to the folder itself and one back up out of a subfolder (loops), and
    // one to a folder outside.
    l(Path::new("."), "self");
    l(Path::new(".."), "docs/up");
    l(Path::new("../.."), "docs/upper");
    l(&outside.0, "outside");
    // A link to a file inside the folder is read as that file.
    l(Path::new("docs/b.md"), "alias.md");
    (t, outside)
}

#[test]
fn links_out_of_the_corpus_are_skipped_each_with_a_problem_naming_it() {
    let (t, _outside) = linked();
    let mut report = LoadReport::default();
    let files: Vec<String> = loader::files(&Folder::of(&t.0), &mut report)
        .into_iter()
        .map(|f| f.shown)
        .collect();
    assert_eq!(files, ["a.md", "alias.md", "docs/b.md"], "{report:?}");
    for (link, words) in [
        ("passwd.txt", "leads out of the corpus folder"),
        ("env.txt", "leads out of the corpus folder"),
        ("secret.md", "leads out of the corpus folder"),
        ("docs/relative.md", "leads out of the corpus folder"),
        ("dangling.md", "cannot be resolved"),
        ("self", "links to folders are not followed"),
        ("docs/up", "links to folders are not followed"),
        ("docs/upper", "leads out of the corpus folder"),
        ("outside", "leads out of the corpus folder"),
    ] {
        assert!(
            has_problem(&report, link, words),
            "{link}: {:?}",
            problems(&report)
        );
    }
    assert_eq!(
        report.problems,
        9,
        "one problem a link: {:?}",
        problems(&report)
    );

    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    assert_eq!(served(&corpus), ["a.md", "alias.md", "docs/b.md"]);
    for query in ["root", "payroll", "PATH", "HOME"] {
        assert!(
            corpus.search(query, &everyone(), 5).unwrap().is_empty(),
            "{query}"
        );
    }
    assert!(corpus.get("passwd.txt", &everyone()).unwrap().is_none());
    assert_eq!(corpus.stats().skipped.load(Ordering::Relaxed), 9);
}

#[test]
fn a_link_out_added_while_serving_is_skipped_on_update_and_on_reload() {
    let t = Temp::new("added");
    t.write("a.md", "# A\n\nthe first document\n");
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    symlink("/etc/hostname", t.0.join("host.txt")).unwrap();
    symlink("/etc/passwd", t.0.join("passwd.md")).unwrap();
    t.write("b.md", "# B\n\nanother document\n");
    // What the watcher runs on a change.
    let updated = corpus.refresh().unwrap().expect("b.md changed");
    assert!(
        has_problem(&updated, "host.txt", "leads out"),
        "{:?}",
        problems(&updated)
    );
    assert_eq!(served(&corpus), ["a.md", "b.md"]);
    // What SIGHUP runs.
    let rebuilt = corpus.reload().unwrap();
    assert!(
        has_problem(&rebuilt, "passwd.md", "leads out"),
        "{:?}",
        problems(&rebuilt)
    );
    assert_eq!(served(&corpus), ["a.md", "b.md"]);
    assert!(corpus.search("root", &everyone(), 5).unwrap().is_empty());
}

#[test]
fn a_link_swapped_for_an_outside_target_after_the_listing_is_not_read() {
    let t = Temp::new("race");
    t.write("a.md", "# A\n\nthe first document\n");
    symlink("a.md", t.0.join("swap.md")).unwrap();
    let mut report = LoadReport::default();
    let files = loader::files(&Folder::of(&t.0), &mut report);
    assert_eq!(files.len(), 2, "the link to a.md is listed");
    // Between the listing and the read, the link now points at the password file, and a
    // folder on the way becomes a link out.
    std::fs::remove_file(t.0.join("swap.md")).unwrap();
    symlink("/etc/passwd", t.0.join("swap.md")).unwrap();
    let swap = files.iter().find(|f| f.shown == "swap.md").unwrap();
    let read = loader::read_file(swap, None);
    assert_eq!(read.len(), 1);
    let reason = read[0]
        .1
        .as_ref()
        .expect_err("the swapped link is refused")
        .to_string();
    assert!(reason.contains("outside"), "{reason}");

    t.write("docs/b.md", "# B\n\nanother document\n");
    let outside = Temp::new("race-outside");
    outside.write("b.md", "# B\n\nthe secret payroll\n");
    let files = loader::files(&Folder::of(&t.0), &mut LoadReport::default());
    std::fs::rename(t.0.join("docs"), t.0.join("docs.old")).unwrap();
    symlink(&outside.0, t.0.join("docs")).unwrap();
    let b = files.iter().find(|f| f.shown == "docs/b.md").unwrap();
    let read = loader::read_file(b, None);
    let reason = read[0]
        .1
        .as_ref()
        .expect_err("a folder swapped for a link out is not entered")
        .to_string();
    assert!(reason.contains("outside"), "{reason}");
}

#[test]
fn devices_fifos_sockets_and_proc_files_are_never_read() {
    let t = Temp::new("special");
    t.write("a.md", "# A\n\nthe first document\n");
    let fifo = t.0.join("pipe.md");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(t.0.join("socket.txt")).unwrap();
    symlink("/dev/zero", t.0.join("zero.txt")).unwrap();
    // The load finishes although nobody ever writes to the FIFO.
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    assert_eq!(served(&corpus), ["a.md"]);
    let mut report = LoadReport::default();
    loader::files(&Folder::of(&t.0), &mut report);
    for special in ["pipe.md", "socket.txt"] {
        assert!(
            has_problem(&report, special, "not a regular file"),
            "{special}: {:?}",
            problems(&report)
        );
    }
    assert!(
        has_problem(&report, "zero.txt", "leads out"),
        "{:?}",
        problems(&report)
    );

    // A FIFO put where a listed file was is opened without blocking and refused.
    t.write("later.md", "# Later\n\na document\n");
    let files = loader::files(&Folder::of(&t.0), &mut LoadReport::default());
    std::fs::remove_file(t.0.join("later.md")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(t.0.join("later.md"))
        .status()
        .unwrap();
    assert!(made.success());
    let later = files.iter().find(|f| f.shown == "later.md").unwrap();
    let read = loader::read_file(later, None);
    let reason = read[0]
        .1
        .as_ref()
        .expect_err("a FIFO is not read")
        .to_string();
    assert!(reason.contains("not a regular file"), "{reason}");

    // A corpus folder under /proc gives nothing: its files are refused as /proc files.
    let fake = loader::read_file(
        &loader::SourceFile::text(Path::new("/proc/self"), "environ"),
        None,
    );
    let reason = fake[0]
        .1
        .as_ref()
        .expect_err("a /proc file is not read")
        .to_string();
    assert!(reason.contains("/proc"), "{reason}");
}

#[test]
fn an_index_dir_equal_to_or_inside_the_corpus_is_refused_before_anything_is_written() {
    let t = Temp::new("inside");
    t.write("a.md", "# A\n\nthe first document\n");
    t.write("index-archive/old.md", "# Old\n\nan archived document\n");
    for (index, place) in [
        (t.0.clone(), "the same folder as"),
        (t.0.join("."), "the same folder as"),
        (t.0.join("search/index"), "inside"),
        (t.0.join("index-archive"), "inside"),
    ] {
        let err = Corpus::open(source(&t.0, Some(index.clone())))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.starts_with("MCP_INDEX_DIR: ")
                && err.contains(place)
                && err.contains("MCP_CORPUS")
                && err.contains("outside the corpus"),
            "{err}"
        );
    }
    assert!(!t.0.join("search").exists(), "nothing was made");
    assert!(!t.0.join("lock").exists(), "nothing was written");
    assert!(t.0.join("index-archive/old.md").exists());
}

#[test]
fn only_index_folders_this_server_made_are_ever_removed() {
    // The index folder is the parent of a corpus named like an index, and holds a user's folder
    // named like one too.
    let parent = Temp::new("parent");
    let corpus_dir = parent.0.join("index-docs");
    std::fs::create_dir_all(&corpus_dir).unwrap();
    std::fs::write(corpus_dir.join("a.md"), "# A\n\nthe first document\n").unwrap();
    std::fs::create_dir_all(parent.0.join("index-archive")).unwrap();
    std::fs::write(parent.0.join("index-archive/keep.txt"), "mine").unwrap();
    let open = || Corpus::open(source(&corpus_dir, Some(parent.0.clone()))).unwrap();

    let corpus = open();
    assert_eq!(served(&corpus), ["a.md"]);
    corpus.reload().unwrap();
    corpus.reload().unwrap();
    drop(corpus);
    let corpus = open();
    corpus.reload().unwrap();
    assert_eq!(served(&corpus), ["a.md"]);
    drop(corpus);
    assert!(corpus_dir.join("a.md").exists(), "the corpus is untouched");
    assert_eq!(
        std::fs::read_to_string(parent.0.join("index-archive/keep.txt")).unwrap(),
        "mine"
    );
    let ours: Vec<String> = indexes(&parent.0)
        .into_iter()
        .filter(|n| index::store::is_ours(&parent.0.join(n)))
        .collect();
    assert_eq!(ours.len(), 1, "one generation of ours is left: {ours:?}");
    assert_eq!(indexes(&parent.0).len(), 3, "{:?}", indexes(&parent.0));

    // A link named like an index, to the user's folder, is not followed into and removed.
    symlink(parent.0.join("index-archive"), parent.0.join("index-link")).unwrap();
    drop(open());
    assert!(parent.0.join("index-archive/keep.txt").exists());
    assert!(parent.0.join("index-link").exists());
}

#[test]
fn a_crash_while_writing_a_generation_leaves_the_users_files_and_the_last_good_one() {
    let t = Temp::new("crash");
    t.write("a.md", "# A\n\nthe first document\n");
    let dir = t.index();
    std::fs::create_dir_all(dir.join("index-mine")).unwrap();
    std::fs::write(dir.join("index-mine/notes.txt"), "mine").unwrap();
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    drop(corpus);
    let good: Vec<String> = indexes(&dir)
        .into_iter()
        .filter(|n| n != "index-mine")
        .collect();
    assert_eq!(good.len(), 1);

    // What a crash leaves: a new generation marked, half written, never named by `current`.
    let half = dir.join("index-2");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::copy(
        dir.join(&good[0]).join(index::store::MARKER),
        half.join(index::store::MARKER),
    )
    .unwrap();
    std::fs::write(half.join("meta.json"), "{").unwrap();
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    assert_eq!(served(&corpus), ["a.md"]);
    assert!(
        !half.exists(),
        "the half-written generation of ours is removed"
    );
    let left = indexes(&dir);
    assert_eq!(
        left,
        [good[0].clone(), "index-mine".to_owned()],
        "the good generation is reused"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("index-mine/notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_current_file_the_server_did_not_write_stops_it() {
    let t = Temp::new("current");
    t.write("a.md", "# A\n\nthe first document\n");
    let dir = t.index();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("current"), "my notes\n").unwrap();
    let err = Corpus::open(source(&t.0, Some(dir.clone())))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("MCP_INDEX_DIR") && err.contains("a folder of its own"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("current")).unwrap(),
        "my notes\n"
    );
}
