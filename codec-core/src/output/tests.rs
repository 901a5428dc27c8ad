use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).expect("ls").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// The process umask, from /proc (reading it with umask(2) would change it
/// under the other tests' feet).
fn umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

#[test]
fn output_new_file_follows_the_umask_and_a_replaced_one_keeps_its_mode() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("new.bin");
    write_file(&path, b"one").expect("write");
    assert_eq!(fs::read(&path).expect("read"), b"one");
    if let Some(umask) = umask() {
        assert_eq!(mode(&path), 0o666 & !umask, "a new file's mode is 0666 less the umask");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
    write_file(&path, b"two").expect("replace");
    assert_eq!(fs::read(&path).expect("read"), b"two");
    assert_eq!(mode(&path), 0o640, "a replaced file keeps its mode");
    assert_eq!(names(dir.path()), ["new.bin"], "no temporary file is left");
}

#[test]
fn output_follows_symlinks_and_replaces_the_target() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("target.wav");
    fs::write(&target, b"old").expect("write");
    std::os::unix::fs::symlink("target.wav", dir.path().join("link.wav")).expect("ln");
    std::os::unix::fs::symlink("link.wav", dir.path().join("link2.wav")).expect("ln");
    write_file(&dir.path().join("link2.wav"), b"new").expect("write through links");
    assert!(fs::symlink_metadata(dir.path().join("link.wav")).expect("stat").file_type().is_symlink());
    assert!(fs::symlink_metadata(dir.path().join("link2.wav")).expect("stat").file_type().is_symlink());
    assert_eq!(fs::read(&target).expect("read"), b"new");
    // A dangling link creates its target.
    std::os::unix::fs::symlink("made.wav", dir.path().join("dangling.wav")).expect("ln");
    write_file(&dir.path().join("dangling.wav"), b"made").expect("write");
    assert!(fs::symlink_metadata(dir.path().join("dangling.wav")).expect("stat").file_type().is_symlink());
    assert_eq!(fs::read(dir.path().join("made.wav")).expect("read"), b"made");
    // A loop is an error, not a hang.
    std::os::unix::fs::symlink("loop-b", dir.path().join("loop-a")).expect("ln");
    std::os::unix::fs::symlink("loop-a", dir.path().join("loop-b")).expect("ln");
    let err = write_file(&dir.path().join("loop-a"), b"x").expect_err("loop");
    assert!(matches!(err, OutputError::TooManyLinks { .. }), "{err}");
    assert_eq!(
        names(dir.path()),
        ["dangling.wav", "link.wav", "link2.wav", "loop-a", "loop-b", "made.wav", "target.wav"]
    );
}

#[test]
fn output_writes_through_a_fifo_without_replacing_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("out.wav");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            File::open(fifo).expect("open fifo").read_to_end(&mut bytes).expect("read fifo");
            bytes
        })
    };
    let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    write_file(&fifo, &payload).expect("write");
    assert_eq!(reader.join().expect("reader"), payload);
    assert!(fs::symlink_metadata(&fifo).expect("stat").file_type().is_fifo(), "the FIFO was replaced");
    assert_eq!(names(dir.path()), ["out.wav"]);
}

#[test]
fn output_writes_through_dev_null_and_refuses_directories_and_block_devices() {
    // Checked before anything is written: were /dev/null taken for a regular
    // file, the write below would rename over it.
    let null = Path::new("/dev/null");
    assert!(matches!(resolve(null), Ok(Target::Special(..))), "/dev/null must be written through");
    write_file(null, b"discarded").expect("write to /dev/null");
    assert!(fs::metadata(null).expect("stat").file_type().is_char_device());

    let dir = tempfile::tempdir().expect("tmp");
    let err = write_file(dir.path(), b"x").expect_err("a directory");
    assert!(matches!(err, OutputError::Directory { .. }), "{err}");
    let block = fs::read_dir("/dev").ok().and_then(|entries| {
        entries.flatten().map(|e| e.path()).find(|p| fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device()))
    });
    if let Some(block) = block {
        // resolve only: nothing is ever opened on a block device here.
        assert!(matches!(resolve(&block), Err(OutputError::BlockDevice { .. })), "{}", block.display());
    }
}

#[test]
fn output_refuses_an_input_under_any_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    fs::write(&input, b"audio").expect("write");
    fs::hard_link(&input, dir.path().join("hard.wav")).expect("ln");
    std::os::unix::fs::symlink(&input, dir.path().join("soft.wav")).expect("ln -s");
    for output in ["in.wav", "hard.wav", "soft.wav", "./in.wav"] {
        let output = dir.path().join(output);
        let err = OutputFile::create_checked(&output, &[&input]).err().expect("refused");
        assert!(matches!(err, OutputError::SameFile { .. }), "{err}");
        let err = OutputFile::create_checked(&input, &[&output]).err().expect("refused");
        assert!(matches!(err, OutputError::SameFile { .. }), "{err}");
    }
    assert_eq!(fs::read(&input).expect("read"), b"audio");
    let other = dir.path().join("other.wav");
    fs::write(&other, b"x").expect("write");
    let mut out = OutputFile::create_checked(&other, &[&input, Path::new("-")]).expect("another file");
    out.write_all(b"y").expect("write");
    out.commit().expect("commit");
    assert_eq!(names(dir.path()), ["hard.wav", "in.wav", "other.wav", "soft.wav"]);
}

#[test]
fn output_dropped_without_commit_leaves_the_old_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("keep.tok");
    fs::write(&path, b"old").expect("write");
    let mut out = OutputFile::create(&path).expect("create");
    out.write_all(b"half of the new").expect("write");
    assert_eq!(names(dir.path()).len(), 2, "the temporary file sits beside the target");
    drop(out);
    assert_eq!(fs::read(&path).expect("read"), b"old");
    assert_eq!(names(dir.path()), ["keep.tok"]);
    let err = write_file(&dir.path().join("no-such-dir").join("x.tok"), b"x").expect_err("no folder");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn output_removes_only_stale_temporaries_of_dead_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let old = SystemTime::now() - 2 * STALE_AFTER;
    let put = |name: &str, when: SystemTime| {
        let file = File::create(dir.path().join(name)).expect("create");
        file.set_modified(when).expect("touch");
    };
    put(&format!(".codec-{dead}-aB3xYz.tmp"), old);
    put(&format!(".codec-{dead}-aB3xYq.tmp"), SystemTime::now());
    put(&format!(".codec-{}-aB3xYz.tmp", std::process::id()), old);
    put(&format!(".codec-{dead}-aB3xYz.tmp.keep"), old);
    put(&format!(".codec-{dead}-toolong.tmp"), old);
    put(".codec-0-aB3xYz.tmp", old);
    write_file(&dir.path().join("out.tok"), b"x").expect("write");
    let mut want = vec![
        format!(".codec-{dead}-aB3xYq.tmp"),
        format!(".codec-{}-aB3xYz.tmp", std::process::id()),
        format!(".codec-{dead}-aB3xYz.tmp.keep"),
        format!(".codec-{dead}-toolong.tmp"),
        ".codec-0-aB3xYz.tmp".to_string(),
        "out.tok".to_string(),
    ];
    want.sort();
    assert_eq!(names(dir.path()), want, "only the old temporary of the dead process goes");
    assert_eq!(temp_pid(".codec-12-abcdef.tmp"), Some(12));
    assert_eq!(temp_pid(".codec--abcdef.tmp"), None);
    assert_eq!(temp_pid(".codec-12-abc.tmp"), None);
}

/// Releases before the PID was in the name left `.codec-XXXXXX`: they are
/// removed once untouched for a minute too, and nothing else of that shape.
#[test]
fn output_removes_stale_temporaries_of_earlier_releases() {
    let dir = tempfile::tempdir().expect("tmp");
    let old = SystemTime::now() - 2 * STALE_AFTER;
    let put = |name: &str, when: SystemTime| {
        let file = File::create(dir.path().join(name)).expect("create");
        file.set_modified(when).expect("touch");
    };
    put(".codec-aB3xYz", old);
    put(".codec-aB3xYq", SystemTime::now());
    put(".codec-aB3xY", old);
    put(".codec-aB3-Yz", old);
    put(".codec-aB3xYz.wav", old);
    fs::create_dir(dir.path().join(".codec-dIr0ab")).expect("mkdir");
    write_file(&dir.path().join("out.tok"), b"x").expect("write");
    assert_eq!(
        names(dir.path()),
        [".codec-aB3-Yz", ".codec-aB3xY", ".codec-aB3xYq", ".codec-aB3xYz.wav", ".codec-dIr0ab", "out.tok"],
        "only the old temporary goes"
    );
}
