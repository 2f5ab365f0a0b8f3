//! Property tests for shell safety (test-only): generated paths, contents and arguments full of
//! quotes, `$()`, backticks, spaces, newlines, globs and leading dashes go through copy, file,
//! lineinfile and command (argv) on the local transport and must reach the target byte for byte,
//! with no command substitution ever run. Also: the atomic writer's temp file is mode 0600 and
//! removed on every failure path (a failed write, a dropped stderr pipe).

use serde_json::json;

use crate::core::{ExecRequest, Transport};
use crate::modules::files::atomic::{FileAttrs, Source, WriteSpec, write_script};
use crate::modules::testutil::{Harness, read};

/// xorshift64: a fixed seed, so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Fragments a hostile string is made of; `MARK` becomes a path that must never be created.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "$(touch MARK)",
    "`touch MARK`",
    " ",
    "\n",
    "*",
    "-",
    "--",
    ";touch MARK",
    "&& touch MARK",
    "|",
    "\\",
    "$HOME",
    "${IFS}",
    "%s",
    "~",
    "?",
    "[a]",
    "\t",
    "é",
    "{{",
    "#",
    "!",
    ">MARK",
    "<",
    "a",
    "b",
    "\\n",
    "'\"'\"'",
];

/// A hostile string: 1-6 fragments; `path_safe` drops `/`-free-unsafe pieces (newlines and
/// tabs are kept: they are valid in file names) and never yields `.`/`..`.
fn hostile(rng: &mut Rng, mark: &str, file_name: bool) -> String {
    let n = 1 + rng.below(6);
    let mut s = String::new();
    if file_name && rng.below(2) == 0 {
        s.push('-');
    }
    for _ in 0..n {
        let p = PIECES[rng.below(PIECES.len())].replace("MARK", mark);
        // A file name has no '/': the marker path pieces are kept out of names.
        if file_name && p.contains('/') {
            s.push_str("$(x)");
        } else {
            s.push_str(&p);
        }
    }
    if file_name && (s == "." || s == "..") {
        s.push('x');
    }
    s
}

#[tokio::test]
async fn hostile_paths_contents_and_args_reach_the_target_literally() {
    let h = Harness::new();
    let mark = h.dir.path().join("INJECTED").display().to_string();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..40 {
        let name = hostile(&mut rng, &mark, true);
        let content = hostile(&mut rng, &mark, false);
        let what = format!("case {case}: name {name:?} content {content:?}");

        // copy: content to a hostile path.
        let dest = h.path(&format!("c{case}{name}"));
        h.apply(
            &crate::modules::files::copy::Copy,
            &json!({"dest": dest, "content": content}),
        )
        .await
        .unwrap_or_else(|e| panic!("copy {what}: {e}"));
        assert_eq!(
            std::fs::read(&dest).expect(&what),
            content.as_bytes(),
            "{what}"
        );

        // file: a directory and a touched file with hostile names.
        let dir = h.path(&format!("d{case}{name}"));
        h.apply(
            &crate::modules::files::file::File,
            &json!({"path": dir, "state": "directory"}),
        )
        .await
        .unwrap_or_else(|e| panic!("file {what}: {e}"));
        assert!(std::path::Path::new(&dir).is_dir(), "{what}");
        let touched = format!("{dir}/{name}");
        h.apply(
            &crate::modules::files::file::File,
            &json!({"path": touched, "state": "touch", "mode": "0600"}),
        )
        .await
        .unwrap_or_else(|e| panic!("touch {what}: {e}"));
        assert!(std::path::Path::new(&touched).is_file(), "{what}");

        // lineinfile: a hostile line (one line: no newline) into a hostile path.
        let line = content.replace('\n', " ");
        let lif = h.path(&format!("l{case}{name}"));
        h.apply(
            &crate::modules::files::lineinfile::LineInFile,
            &json!({"path": lif, "line": line, "create": true}),
        )
        .await
        .unwrap_or_else(|e| panic!("lineinfile {what}: {e}"));
        assert_eq!(read(&lif), format!("{line}\n"), "{what}");

        // command with argv: each argument arrives as one word, unexpanded (Ansible expands
        // `$VAR` and `~` in argv unless `expand_argument_vars: false`; nothing else, ever).
        let applied = h
            .apply(
                &crate::modules::commands::command::Command,
                &json!({"argv": ["printf", "[%s]", content, name], "expand_argument_vars": false}),
            )
            .await
            .unwrap_or_else(|e| panic!("command {what}: {e}"));
        assert_eq!(
            applied.result["stdout"],
            format!("[{content}][{name}]").trim_end_matches('\n'),
            "{what}"
        );
    }
    assert!(
        !std::path::Path::new(&mark).exists(),
        "a command substitution ran on the target"
    );
}

/// Runs a writer script on the local host with `stdin`; its exit code.
async fn run_local(h: &Harness, script: String, stdin: &[u8]) -> i32 {
    h.transport
        .exec(ExecRequest::new(script).stdin(stdin.to_vec()))
        .await
        .expect("local exec")
        .status
}

/// Names in `dir` starting with `.shipshape`.
fn temp_files(dir: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".shipshape"))
        .collect()
}

#[tokio::test]
async fn atomic_temp_file_is_0600_and_removed_on_every_path() {
    let h = Harness::new();
    let dest = h.path("f.txt");
    let dir = h.path("");
    std::fs::write(&dest, "old\n").expect("old file");
    let attrs = FileAttrs {
        mode: Some(0o644),
        ..FileAttrs::default()
    };
    let spec = WriteSpec {
        dest: &dest,
        attrs: &attrs,
        backup: false,
        validate: None,
        create_parent: false,
    };
    let content = b"new content\n".to_vec();
    let script = write_script(&spec, &Source::Stdin(content.clone())).expect("script");

    // The mode of the temp file before any content is written, probed right after mktemp.
    let probe = h.path("probe");
    let at = script
        .find("cat > \"$t\"")
        .expect("the writer copies stdin");
    let probed = format!(
        "{}stat -c %a \"$t\" > '{probe}'\n{}",
        &script[..at],
        &script[at..]
    );
    assert_eq!(run_local(&h, probed, &content).await, 0);
    assert_eq!(read(&probe).trim(), "600");
    assert_eq!(read(&dest), "new content\n");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));

    // A short write (the controller went away mid-upload): old file kept, temp removed.
    std::fs::write(&dest, "old\n").expect("old file");
    assert_ne!(run_local(&h, script.clone(), b"new").await, 0);
    assert_eq!(read(&dest), "old\n");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));

    // The same with stderr a closed pipe (sshd gone): the error message raises SIGPIPE,
    // which the writer traps, so the temp file is still removed.
    let closed = format!(
        "printf new | sh -c {} 2>&1 | true\n",
        crate::core::quote(&format!("sleep 0.2\n{script}"))
    );
    run_local(&h, closed, b"new").await;
    assert_eq!(read(&dest), "old\n");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));

    // A rejected validate: old file kept, temp removed.
    let spec = WriteSpec {
        validate: Some("false %s"),
        ..spec
    };
    let script = write_script(&spec, &Source::Stdin(content.clone())).expect("script");
    assert_ne!(run_local(&h, script, &content).await, 0);
    assert_eq!(read(&dest), "old\n");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
}
